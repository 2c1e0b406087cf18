import { createHash, timingSafeEqual } from 'node:crypto';
import { gzipSync } from 'node:zlib';

import type { TTokenRecord } from './fake-provider.state.js';
import type { TTokenCallRecord } from './fake-provider.types.js';
import {
  HttpError,
  oauthError,
  parseParams,
  readBody,
  readClientAuth,
  sendJson,
  type TClientAuth,
} from './http.util.js';
import { instanceField, nowIso, type TRequestContext } from './request-context.js';

function pkceS256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/** Client authentication shared by token and revoke endpoints. */
export function checkClient(ctx: TRequestContext, auth: TClientAuth, required: boolean): void {
  const clients = ctx.state.config.clients;
  if (!auth.clientId) {
    if (required || clients.length > 0) throw invalidClient(auth);
    return;
  }
  if (clients.length === 0) return;
  const client = clients.find((c) => c.clientId === auth.clientId);
  if (!client || !auth.clientSecret || !safeEqual(client.clientSecret, auth.clientSecret)) {
    throw invalidClient(auth);
  }
}

function invalidClient(auth: TClientAuth): HttpError {
  // RFC 6749 §5.2: 401 + WWW-Authenticate when the client tried HTTP Basic.
  return new HttpError(
    401,
    { error: 'invalid_client', error_description: 'client authentication failed' },
    auth.method === 'basic' ? { 'www-authenticate': 'Basic realm="fake-provider"' } : {},
  );
}

function tokenResponse(ctx: TRequestContext, access: TTokenRecord, refresh: TTokenRecord) {
  return {
    access_token: access.token,
    refresh_token: refresh.token,
    token_type: 'Bearer',
    expires_in: Math.max(0, Math.round((access.expiresAt - Date.now()) / 1000)),
    scope: access.scope,
    user_id: access.userId,
    tenant_id: access.tenantId,
    ...instanceField(ctx.instance),
  };
}

/** POST /oauth/token: authorization_code and refresh_token grants, with fault injection. */
export async function handleToken(ctx: TRequestContext): Promise<void> {
  const { state } = ctx;
  const params = parseParams(ctx.req, await readBody(ctx.req));
  const auth = readClientAuth(ctx.req, params);
  const record: TTokenCallRecord = {
    at: nowIso(),
    grantType: params['grant_type'] ?? null,
    clientId: auth.clientId,
    ...instanceField(ctx.instance),
    status: null,
    ...(params['refresh_token'] ? { refreshToken: params['refresh_token'] } : {}),
    ...(params['code'] ? { code: params['code'] } : {}),
  };
  state.tokenCalls.push(record);

  const mode = state.config.tokenMode;
  if (mode === 'hang') return; // Never answered; close() destroys the socket.
  await ctx.runtime.delay(state.config.tokenDelayMs);

  let status = 200;
  let body: unknown;
  let headers: Record<string, string> = {};
  try {
    if (mode === '503') {
      throw new HttpError(
        503,
        { error: 'temporarily_unavailable', error_description: 'injected 503' },
        { 'retry-after': '1' },
      );
    }
    if (mode === 'invalid_client') throw invalidClient(auth);
    checkClient(ctx, auth, true);
    body = grant(ctx, params, auth.clientId ?? '');
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    status = err.status;
    body = err.body;
    headers = err.headers;
    const error = err.body['error'];
    if (typeof error === 'string') record.error = error;
  }
  record.status = status;
  if (status === 200 && mode === 'oversized') {
    sendJson(ctx.res, status, { ...(body as object), padding: 'x'.repeat(2 * 1024 * 1024) });
    return;
  }
  if (status === 200 && mode === 'drip') return drip(ctx, JSON.stringify(body));
  if (status === 200 && mode === 'gzip') return sendGzipJson(ctx, body);
  sendJson(ctx.res, status, body, headers);
}

/** The answer gzip-compressed whatever the request's Accept-Encoding, as a misbehaving provider might send it. */
function sendGzipJson({ res }: TRequestContext, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const payload = gzipSync(JSON.stringify(body));
  res.writeHead(200, {
    'content-type': 'application/json; charset=utf-8',
    'content-encoding': 'gzip',
    'content-length': String(payload.byteLength),
    'cache-control': 'no-store',
    pragma: 'no-cache',
  });
  res.end(payload);
}

/** The answer's head at once, then its body a byte every half second, until it is all out or the client leaves. */
async function drip(ctx: TRequestContext, payload: string): Promise<void> {
  const { res } = ctx;
  res.writeHead(200, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.flushHeaders();
  let gone = false;
  res.once('close', () => (gone = true));
  for (const char of payload) {
    if (gone) return;
    res.write(char);
    try {
      await ctx.runtime.delay(500);
    } catch {
      res.destroy();
      return;
    }
  }
  res.end();
}

function grant(ctx: TRequestContext, params: Record<string, string>, clientId: string): unknown {
  switch (params['grant_type']) {
    case 'authorization_code':
      return authorizationCodeGrant(ctx, params, clientId);
    case 'refresh_token':
      return refreshTokenGrant(ctx, params, clientId);
    case undefined:
    case '':
      throw oauthError(400, 'invalid_request', 'grant_type is required');
    default:
      throw oauthError(400, 'unsupported_grant_type', `grant_type ${params['grant_type']}`);
  }
}

function authorizationCodeGrant(
  ctx: TRequestContext,
  params: Record<string, string>,
  clientId: string,
): unknown {
  const { state } = ctx;
  const codeValue = params['code'];
  if (!codeValue) throw oauthError(400, 'invalid_request', 'code is required');
  const code = state.codes.get(codeValue);
  // A code from another instance is simply unknown here, as it would be on another host.
  if (!code || code.instance !== ctx.instance) {
    throw oauthError(400, 'invalid_grant', 'unknown authorization code');
  }
  if (code.used) {
    // RFC 6749 §4.1.2: a replayed code should revoke everything issued from it.
    state.revokeFamily(code.familyId, 'code_reuse');
    throw oauthError(400, 'invalid_grant', 'authorization code already used');
  }
  if (code.expiresAt <= Date.now()) {
    throw oauthError(400, 'invalid_grant', 'authorization code expired');
  }
  if (code.clientId !== clientId) {
    throw oauthError(400, 'invalid_grant', 'code was issued to another client');
  }
  if (params['redirect_uri'] !== code.redirectUri) {
    throw oauthError(400, 'invalid_grant', 'redirect_uri does not match the authorization request');
  }
  if (code.codeChallenge !== undefined) {
    const verifier = params['code_verifier'];
    if (!verifier) throw oauthError(400, 'invalid_grant', 'code_verifier is required');
    if (!safeEqual(pkceS256(verifier), code.codeChallenge)) {
      throw oauthError(400, 'invalid_grant', 'code_verifier does not match code_challenge');
    }
  }
  const user = state.findUser(code.userId);
  if (!user) throw oauthError(400, 'invalid_grant', 'user no longer exists');
  code.used = true;
  const { access, refresh } = state.issueTokens({
    clientId,
    user,
    instance: ctx.instance,
    scope: code.scope,
    familyId: code.familyId,
  });
  return tokenResponse(ctx, access, refresh);
}

function refreshTokenGrant(
  ctx: TRequestContext,
  params: Record<string, string>,
  clientId: string,
): unknown {
  const { state } = ctx;
  const presented = params['refresh_token'];
  if (!presented) throw oauthError(400, 'invalid_request', 'refresh_token is required');

  const reject = (description: string): HttpError =>
    state.config.refreshExpiredStyle === 'servicenow'
      ? // ServiceNow answers a dead refresh token with this odd 401 rather than invalid_grant.
        oauthError(401, 'server_error', 'access_denied')
      : oauthError(400, 'invalid_grant', description);

  const rec = state.tokens.get(presented);
  if (!rec || rec.type !== 'refresh' || rec.instance !== ctx.instance) {
    throw reject('unknown refresh token');
  }
  if (rec.clientId !== clientId) throw reject('refresh token was issued to another client');
  const status = state.tokenStatusOf(rec);
  if (status !== 'active') {
    throw reject(
      rec.revokeReason === 'rotated' ? 'refresh token already used' : `refresh token ${status}`,
    );
  }
  const user = state.findUser(rec.userId);
  if (!user) throw reject('user no longer exists');

  const rotate = state.config.rotate;
  if (rotate) state.markRotated(rec);
  const { access, refresh } = state.issueTokens({
    clientId,
    user,
    instance: ctx.instance,
    scope: rec.scope,
    familyId: rec.familyId,
    ...(rotate ? {} : { keepRefresh: rec }),
  });
  return tokenResponse(ctx, access, refresh);
}
