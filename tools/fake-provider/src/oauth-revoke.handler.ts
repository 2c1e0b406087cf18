import type { TRevocationRecord } from './fake-provider.types.js';
import {
  HttpError,
  oauthError,
  parseParams,
  readBody,
  readClientAuth,
  sendJson,
} from './http.util.js';
import { checkClient } from './oauth-token.handler.js';
import { instanceField, nowIso, type TRequestContext } from './request-context.js';

/** POST /oauth/revoke (RFC 7009), recorded even when a fault mode makes it fail. */
export async function handleRevoke(ctx: TRequestContext): Promise<void> {
  const { state } = ctx;
  const params = parseParams(ctx.req, await readBody(ctx.req));
  // Google-style revoke passes the token in the query string; accept that too.
  const token = params['token'] ?? ctx.url.searchParams.get('token');
  const hint = params['token_type_hint'] ?? ctx.url.searchParams.get('token_type_hint');
  const auth = readClientAuth(ctx.req, params);
  const record: TRevocationRecord = {
    at: nowIso(),
    token: token || null,
    tokenTypeHint: hint || null,
    clientId: auth.clientId,
    ...instanceField(ctx.instance),
    outcome: 'unknown_token',
    status: null,
  };
  state.revocations.push(record);

  const mode = state.config.revokeMode;
  if (mode === 'down') {
    record.outcome = 'down';
    ctx.req.socket.destroy();
    return;
  }
  if (mode === 'hang') {
    record.outcome = 'hang';
    return;
  }
  await ctx.runtime.delay(state.config.revokeDelayMs);

  const answer = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
    record.status = status;
    sendJson(ctx.res, status, body, headers);
  };
  if (mode === '400') {
    record.outcome = 'fault_400';
    return answer(400, { error: 'invalid_request', error_description: 'injected 400' });
  }
  if (mode === 'expired') {
    record.outcome = 'fault_expired';
    return answer(400, { error: 'invalid_token', error_description: 'Token expired or revoked' });
  }
  if (mode === '404') {
    record.outcome = 'fault_404';
    return answer(404, { error: 'not_found' });
  }
  if (mode === '500') {
    record.outcome = 'fault_500';
    return answer(500, { error: 'server_error', error_description: 'injected 500' });
  }

  try {
    // Client auth is optional unless clients are configured (Google's revoke takes none).
    checkClient(ctx, auth, false);
    if (!token) throw oauthError(400, 'invalid_request', 'token is required');
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    record.outcome = err.status === 401 ? 'invalid_client' : 'invalid_request';
    return answer(err.status, err.body, err.headers);
  }

  const rec = state.tokens.get(token);
  // RFC 7009 §2.2: unknown tokens still get 200. Another instance's token is unknown here.
  if (!rec || rec.instance !== ctx.instance) {
    record.outcome = 'unknown_token';
    return answer(200, {});
  }
  if (auth.clientId && rec.clientId !== auth.clientId) {
    record.outcome = 'unauthorized_client';
    return answer(400, {
      error: 'unauthorized_client',
      error_description: 'token was issued to another client',
    });
  }
  if (rec.revokedAt !== undefined) {
    record.outcome = 'already_revoked';
    return answer(200, {});
  }
  state.revoke(rec, 'revoke_endpoint', hint || undefined);
  record.outcome = 'revoked';
  answer(200, {});
}
