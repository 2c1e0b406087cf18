import { randomToken } from './fake-provider.state.js';
import type { TAuthorizationRecord, TFakeUser } from './fake-provider.types.js';
import { sendJson, sendRedirect } from './http.util.js';
import { instanceField, nowIso, type TRequestContext } from './request-context.js';

const STANDARD_PARAMS = new Set([
  'response_type',
  'client_id',
  'redirect_uri',
  'state',
  'scope',
  'code_challenge',
  'code_challenge_method',
  'login_hint',
]);

function parseRedirectUri(value: string | null): URL | null {
  if (!value) return null;
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : null;
  } catch {
    return null;
  }
}

/** GET /oauth/authorize: auto-consents as the current login user and redirects with a code. */
export function handleAuthorize(ctx: TRequestContext): void {
  const { state, url } = ctx;
  const q = url.searchParams;
  const extraParams: Record<string, string> = {};
  for (const [key, value] of q) if (!STANDARD_PARAMS.has(key)) extraParams[key] = value;

  const record: TAuthorizationRecord = {
    at: nowIso(),
    ...instanceField(ctx.instance),
    clientId: q.get('client_id'),
    redirectUri: q.get('redirect_uri'),
    responseType: q.get('response_type'),
    scope: q.get('scope'),
    state: q.get('state'),
    codeChallenge: q.get('code_challenge'),
    codeChallengeMethod: q.get('code_challenge_method'),
    loginHint: q.get('login_hint'),
    extraParams,
    outcome: 'error',
  };
  state.authorizations.push(record);

  // Without a trustworthy client/redirect we must not redirect (RFC 6749 §4.1.2.1): answer directly.
  const fail = (error: string, description: string): void => {
    record.error = error;
    sendJson(ctx.res, 400, { error, error_description: description });
  };
  if (!record.clientId) return fail('invalid_request', 'client_id is required');
  const clients = state.config.clients;
  if (clients.length > 0 && !clients.some((c) => c.clientId === record.clientId)) {
    return fail('invalid_client', 'unknown client_id');
  }
  const redirect = parseRedirectUri(record.redirectUri);
  if (!redirect) return fail('invalid_request', 'redirect_uri must be an absolute http(s) URL');

  const redirectWith = (params: Record<string, string>): void => {
    for (const [key, value] of Object.entries(params)) redirect.searchParams.set(key, value);
    if (record.state !== null) redirect.searchParams.set('state', record.state);
    sendRedirect(ctx.res, redirect.toString());
  };
  const redirectError = (error: string, description: string): void => {
    record.outcome = error === 'access_denied' ? 'denied' : 'error';
    record.error = error;
    redirectWith({ error, error_description: description });
  };

  if (record.responseType !== 'code') {
    return redirectError('unsupported_response_type', 'only response_type=code is supported');
  }
  if (record.codeChallenge !== null && record.codeChallengeMethod !== 'S256') {
    return redirectError('invalid_request', 'code_challenge_method must be S256');
  }
  if (state.config.authorizeMode === 'deny') {
    return redirectError('access_denied', 'the user denied the request');
  }
  let user: TFakeUser | undefined;
  if (record.loginHint) {
    user = state.findUser(record.loginHint);
    if (!user) return redirectError('access_denied', `unknown login_hint ${record.loginHint}`);
  } else {
    user = state.findUser(state.consentAsUserId);
    if (!user) return redirectError('access_denied', 'no user is logged in');
  }

  const code = randomToken('fpc');
  state.codes.set(code, {
    code,
    clientId: record.clientId,
    redirectUri: record.redirectUri ?? '',
    scope: record.scope ?? '',
    codeChallenge: record.codeChallenge ?? undefined,
    userId: user.id,
    tenantId: user.tenantId,
    instance: ctx.instance,
    expiresAt: Date.now() + state.config.codeTtlSec * 1000,
    used: false,
    familyId: randomToken('fam').slice(0, 24),
  });
  record.outcome = 'code';
  record.userId = user.id;
  record.code = code;
  // Like Intuit (QuickBooks), the company the user chose comes back beside the code: `realmId`, the user's tenant.
  redirectWith({ code, realmId: user.tenantId });
}
