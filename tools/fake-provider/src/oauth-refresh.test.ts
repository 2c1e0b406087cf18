import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { FakeProviderClient } from './fake-provider.client.js';
import { startFakeProvider, type TFakeProvider } from './fake-provider.server.js';
import {
  basicAuth,
  CLIENT_ID,
  CLIENT_SECRET,
  getJson,
  obtainTokens,
  postForm,
  refresh,
  type TTokenBody,
} from './oauth-flow.test-helpers.js';

let provider: TFakeProvider;
let control: FakeProviderClient;

beforeAll(async () => {
  provider = await startFakeProvider({ port: 0 });
  control = new FakeProviderClient(provider.url);
});
afterAll(() => provider.close());
beforeEach(() => control.reset());

describe('refresh_token grant', () => {
  it('rotates by default: new refresh token, old one rejected on reuse', async () => {
    const first = await obtainTokens(provider.url);
    const res = await refresh(provider.url, first.refresh_token);
    expect(res.status).toBe(200);
    const second = res.body as unknown as TTokenBody;
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(second.access_token).not.toBe(first.access_token);
    expect(second).toMatchObject({ user_id: 'u-alice', tenant_id: 'acme', scope: 'read write' });

    const reuse = await refresh(provider.url, first.refresh_token);
    expect(reuse).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await control.tokenStatus(first.refresh_token)).toMatchObject({
      status: 'revoked',
      revokeReason: 'rotated',
    });
    // Rotation does not kill access tokens already handed out.
    expect((await control.tokenStatus(first.access_token)).status).toBe('active');
    expect((await refresh(provider.url, second.refresh_token)).status).toBe(200);

    const calls = (await control.getState()).tokenCalls.filter(
      (c) => c.grantType === 'refresh_token',
    );
    expect(calls.map((c) => [c.refreshToken, c.status])).toEqual([
      [first.refresh_token, 200],
      [first.refresh_token, 400],
      [second.refresh_token, 200],
    ]);
  });

  it('rotate:false returns the same refresh token without extending it', async () => {
    await control.configure({ rotate: false });
    const first = await obtainTokens(provider.url);
    const [before] = await control.listTokens({ token: first.refresh_token });
    const a = (await refresh(provider.url, first.refresh_token)).body as unknown as TTokenBody;
    const b = (await refresh(provider.url, first.refresh_token)).body as unknown as TTokenBody;
    expect(a.refresh_token).toBe(first.refresh_token);
    expect(b.refresh_token).toBe(first.refresh_token);
    expect(a.access_token).not.toBe(b.access_token);
    const [after] = await control.listTokens({ token: first.refresh_token });
    expect(after?.expiresAt).toBe(before?.expiresAt);
  });

  it('uses configured lifetimes', async () => {
    await control.configure({ accessTokenTtlSec: 120, refreshTokenTtlSec: 600 });
    const tokens = await obtainTokens(provider.url);
    expect(tokens.expires_in).toBe(120);
    const [rt] = await control.listTokens({ token: tokens.refresh_token });
    const lifetime = Date.parse(rt?.expiresAt ?? '') - Date.parse(rt?.issuedAt ?? '');
    expect(lifetime).toBe(600_000);
  });

  it('an expired refresh token gives invalid_grant (rfc style)', async () => {
    const tokens = await obtainTokens(provider.url);
    expect(await control.expireRefreshTokens({ userId: 'u-alice' })).toBe(1);
    const res = await refresh(provider.url, tokens.refresh_token);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      error: 'invalid_grant',
      error_description: 'refresh token expired',
    });
    expect(await control.tokenStatus(tokens.refresh_token)).toMatchObject({ status: 'expired' });
  });

  it('servicenow style answers a dead refresh token with 401 server_error/access_denied', async () => {
    await control.configure({ refreshExpiredStyle: 'servicenow' });
    const tokens = await obtainTokens(provider.url);
    await control.expireRefreshTokens({ token: tokens.refresh_token });
    expect(await refresh(provider.url, tokens.refresh_token)).toEqual({
      status: 401,
      body: { error: 'server_error', error_description: 'access_denied' },
    });
    expect((await refresh(provider.url, 'fpr_unknown')).status).toBe(401);
  });

  it('expire filters only hit matching tokens', async () => {
    const alice = await obtainTokens(provider.url);
    const carol = await obtainTokens(provider.url, { login_hint: 'u-carol' });
    expect(await control.expireAccessTokens({ tenantId: 'globex' })).toBe(1);
    expect((await getJson(`${provider.url}/oauth/userinfo`, carol.access_token)).status).toBe(401);
    expect((await getJson(`${provider.url}/oauth/userinfo`, alice.access_token)).status).toBe(200);
    expect((await refresh(provider.url, carol.refresh_token)).status).toBe(200);
  });

  it('unknown refresh tokens and missing params are rejected', async () => {
    expect((await refresh(provider.url, 'fpr_nope')).body).toMatchObject({
      error: 'invalid_grant',
    });
    const missing = await postForm(`${provider.url}/oauth/token`, {
      grant_type: 'refresh_token',
      client_id: CLIENT_ID,
    });
    expect(missing).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    const weird = await postForm(`${provider.url}/oauth/token`, {
      grant_type: 'password',
      client_id: CLIENT_ID,
    });
    expect(weird.body).toMatchObject({ error: 'unsupported_grant_type' });
  });
});

describe('client authentication', () => {
  it('requires a client_id', async () => {
    const res = await postForm(`${provider.url}/oauth/token`, {
      grant_type: 'refresh_token',
      refresh_token: 'x',
    });
    expect(res).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });

  it('checks secrets once clients are configured', async () => {
    const tokens = await obtainTokens(provider.url);
    await control.configure({ clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }] });
    const wrong = await postForm(
      `${provider.url}/oauth/token`,
      { grant_type: 'refresh_token', refresh_token: tokens.refresh_token },
      { headers: { authorization: basicAuth(CLIENT_ID, 'wrong') } },
    );
    expect(wrong).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    const right = await postForm(
      `${provider.url}/oauth/token`,
      { grant_type: 'refresh_token', refresh_token: tokens.refresh_token },
      { headers: { authorization: basicAuth(CLIENT_ID, CLIENT_SECRET) } },
    );
    expect(right.status).toBe(200);
  });
});
