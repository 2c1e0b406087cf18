import { describe, expect, it } from 'vitest';
import { classifyRefreshAnswer } from './token-endpoint';

const answer = (status: number, body: unknown, retryAfterMs?: number) =>
  ({ kind: 'response', status, body, retryAfterMs }) as const;

/** RFC 6749 §5.2 and the catalogue's expiry signals: what each token-endpoint answer to a refresh means. */
describe('classifyRefreshAnswer', () => {
  it('reads a successful answer', () => {
    expect(
      classifyRefreshAnswer(
        answer(200, { access_token: 'a', refresh_token: 'r', expires_in: '1800' }),
        'invalid_grant',
      ),
    ).toEqual({ kind: 'ok', accessToken: 'a', refreshToken: 'r', expiresInSec: 1800 });
    expect(classifyRefreshAnswer(answer(200, { access_token: 'a' }), 'invalid_grant')).toEqual({
      kind: 'ok',
      accessToken: 'a',
      refreshToken: undefined,
      expiresInSec: undefined,
    });
    expect(classifyRefreshAnswer(answer(200, { ok: false }), 'invalid_grant')).toMatchObject({
      kind: 'rejected',
      error: 'no_access_token',
    });
  });

  it('invalid_grant (any status) is expiry; ServiceNow 401 access_denied only for ServiceNow', () => {
    for (const status of [400, 401, 403]) {
      expect(
        classifyRefreshAnswer(answer(status, { error: 'invalid_grant' }), 'invalid_grant'),
      ).toEqual({ kind: 'expired', signal: 'invalid_grant', httpStatus: status });
    }
    const sn = answer(401, { error: 'server_error', error_description: 'access_denied' });
    expect(classifyRefreshAnswer(sn, 'servicenow')).toEqual({
      kind: 'expired',
      signal: 'servicenow_access_denied',
      httpStatus: 401,
    });
    expect(classifyRefreshAnswer(sn, 'invalid_grant')).toMatchObject({ kind: 'rejected' });
    // A ServiceNow 5xx is still transient.
    expect(
      classifyRefreshAnswer(answer(500, { error: 'server_error' }), 'servicenow'),
    ).toMatchObject({ kind: 'retry' });
  });

  it('5xx, 429, temporarily_unavailable, timeouts and network errors are transient', () => {
    expect(classifyRefreshAnswer(answer(503, {}, 1000), 'invalid_grant')).toEqual({
      kind: 'retry',
      why: 'http_503',
      retryAfterMs: 1000,
    });
    expect(classifyRefreshAnswer(answer(429, undefined), 'invalid_grant')).toMatchObject({
      kind: 'retry',
    });
    expect(
      classifyRefreshAnswer(answer(400, { error: 'temporarily_unavailable' }), 'invalid_grant'),
    ).toMatchObject({ kind: 'retry' });
    expect(classifyRefreshAnswer({ kind: 'timeout' }, 'invalid_grant')).toMatchObject({
      kind: 'retry',
      why: 'timeout',
    });
    expect(
      classifyRefreshAnswer({ kind: 'unreachable', code: 'ECONNREFUSED' }, 'invalid_grant'),
    ).toMatchObject({ kind: 'retry', why: 'unreachable' });
  });

  it('invalid_client is a configuration fault; other refusals are rejections', () => {
    expect(classifyRefreshAnswer(answer(401, { error: 'invalid_client' }), 'servicenow')).toEqual({
      kind: 'invalid_client',
      httpStatus: 401,
    });
    expect(
      classifyRefreshAnswer(answer(400, { error: 'unauthorized_client' }), 'invalid_grant'),
    ).toEqual({ kind: 'rejected', httpStatus: 400, error: 'unauthorized_client' });
  });
});
