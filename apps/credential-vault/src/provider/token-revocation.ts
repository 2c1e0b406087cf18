import type { TRevocation } from '@otesse/providers';
import { basicAuth, callProvider, field, type THttpRequest } from './provider-http';

export type TTokenHint = 'refresh_token' | 'access_token';
export type TRevokeOutcome = 'revoked' | 'failed' | 'timeout' | 'unreachable';

export interface TRevokeCallResult {
  outcome: TRevokeOutcome;
  httpStatus: number | null;
}

/** The request one revocation kind makes for one token (one token per call, for every kind). */
export function revocationRequest(
  rev: Exclude<TRevocation, { kind: 'none' }>,
  opts: {
    url: string;
    token: string;
    hint: TTokenHint;
    clientId: string | undefined;
    clientSecret: string | undefined;
    timeoutMs: number;
  },
): THttpRequest {
  const client =
    opts.clientId && opts.clientSecret
      ? { clientId: opts.clientId, clientSecret: opts.clientSecret }
      : undefined;
  const base = { url: opts.url, timeoutMs: opts.timeoutMs };
  switch (rev.kind) {
    case 'rfc7009':
      return {
        ...base,
        method: 'POST',
        // RFC 7009 §2.1: `token` and the optional `token_type_hint`, client authenticated as usual.
        form: {
          token: opts.token,
          ...(rev.sendHint ? { token_type_hint: opts.hint } : {}),
          ...(client && rev.clientAuth === 'body'
            ? { client_id: client.clientId, client_secret: client.clientSecret }
            : {}),
        },
        headers:
          client && rev.clientAuth === 'basic'
            ? { authorization: basicAuth(client.clientId, client.clientSecret) }
            : {},
      };
    case 'servicenow':
      // oauth_revoke_token.do: one token per call, the client in the body (the token never in a URL).
      return {
        ...base,
        method: 'POST',
        form: {
          token: opts.token,
          ...(client ? { client_id: client.clientId, client_secret: client.clientSecret } : {}),
        },
      };
    case 'json-basic':
      return {
        ...base,
        method: 'POST',
        json: { token: opts.token },
        headers: client ? { authorization: basicAuth(client.clientId, client.clientSecret) } : {},
      };
    case 'bearer':
      return { ...base, method: rev.method, headers: { authorization: `Bearer ${opts.token}` } };
  }
}

/**
 * Revokes one token. RFC 7009 §2.2: 200 (also for unknown tokens), 400 `invalid_token` and 404 mean the token is
 * no longer usable: done. Any other answer, a hang past `timeoutMs` or an unreachable host is reported, never
 * thrown: revocation failure never blocks a disconnect (the token expires on its own).
 */
export async function revokeToken(
  rev: Exclude<TRevocation, { kind: 'none' }>,
  opts: Parameters<typeof revocationRequest>[1],
): Promise<TRevokeCallResult> {
  const outcome = await callProvider(revocationRequest(rev, opts));
  if (outcome.kind === 'timeout') return { outcome: 'timeout', httpStatus: null };
  if (outcome.kind === 'unreachable') return { outcome: 'unreachable', httpStatus: null };
  const { status, body } = outcome;
  if (status >= 200 && status < 300) {
    // Slack-style APIs answer 200 with `{ ok: false }` when nothing was revoked.
    const ok = (body as { ok?: unknown } | undefined)?.ok;
    return { outcome: ok === false ? 'failed' : 'revoked', httpStatus: status };
  }
  if (status === 404 || (status === 400 && field(body, 'error') === 'invalid_token')) {
    return { outcome: 'revoked', httpStatus: status };
  }
  return { outcome: 'failed', httpStatus: status };
}
