import type { TOAuthSettings } from '@otesse/providers';
import { basicAuth, callProvider, field, type THttpOutcome } from './provider-http';

/** Bounds of one refresh: every provider call of it fits in `budgetMs` (callers wait on NATS, 5 s by default). */
export interface TRefreshSettings {
  /** Refresh when less than this is left (capped at half the token's lifetime). */
  marginMs: number;
  /** One call to the token endpoint. */
  attemptTimeoutMs: number;
  /** Calls at most (first + retries of transient failures). */
  maxAttempts: number;
  /** All calls and back-offs of one refresh together. */
  budgetMs: number;
  /** First back-off (doubles, with jitter); a provider's Retry-After is honoured within the budget. */
  backoffMs: number;
  /**
   * A refused token that itself came from a forced refresh less than `refusalBackoffMaxMs` before is renewed again
   * only this long after that refresh, doubling with each forced refresh in a row (capped at `refusalBackoffMaxMs`).
   */
  refusalBackoffMs: number;
  refusalBackoffMaxMs: number;
}

export const DEFAULT_REFRESH_SETTINGS: TRefreshSettings = {
  marginMs: 60_000,
  attemptTimeoutMs: 2_500,
  maxAttempts: 3,
  budgetMs: 4_000,
  backoffMs: 200,
  refusalBackoffMs: 60_000,
  refusalBackoffMaxMs: 3_600_000,
};

export type TExpiredSignal = 'invalid_grant' | 'servicenow_access_denied';

export type TRefreshResult =
  | {
      kind: 'ok';
      accessToken: string;
      refreshToken: string | undefined;
      expiresInSec: number | undefined;
    }
  /** The refresh token is dead (RFC 6749 §5.2 invalid_grant, or the provider's known equivalent). */
  | { kind: 'expired'; signal: TExpiredSignal; httpStatus: number }
  /** 5xx, 429, network, timeout: retried within the budget, then given up — never a verdict on the token. */
  | { kind: 'transient'; why: string; attempts: number }
  /** The provider refuses our client: a configuration fault to alert on. */
  | { kind: 'invalid_client'; httpStatus: number }
  /** Any other refusal (invalid_request, unauthorized_client, a malformed answer). */
  | { kind: 'rejected'; httpStatus: number; error: string | undefined };

type TAttempt = TRefreshResult | { kind: 'retry'; why: string; retryAfterMs: number | undefined };

/** What one token-endpoint answer means, per RFC 6749 §5.2 and the catalogue's `refresh.expiredSignal`. */
export function classifyRefreshAnswer(
  outcome: THttpOutcome,
  expiredSignal: TOAuthSettings['refresh']['expiredSignal'],
): TAttempt {
  if (outcome.kind === 'timeout') return { kind: 'retry', why: 'timeout', retryAfterMs: undefined };
  if (outcome.kind === 'unreachable') {
    return { kind: 'retry', why: 'unreachable', retryAfterMs: undefined };
  }
  const { status, body } = outcome;
  const error = field(body, 'error');
  if (status >= 200 && status < 300) {
    const accessToken = field(body, 'access_token');
    if (!accessToken) return { kind: 'rejected', httpStatus: status, error: 'no_access_token' };
    const rawExpiresIn = (body as Record<string, unknown>)['expires_in'];
    const expiresIn = typeof rawExpiresIn === 'string' ? Number(rawExpiresIn) : rawExpiresIn;
    return {
      kind: 'ok',
      accessToken,
      refreshToken: field(body, 'refresh_token') || undefined,
      expiresInSec:
        typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0
          ? expiresIn
          : undefined,
    };
  }
  if (error === 'invalid_grant')
    return { kind: 'expired', signal: 'invalid_grant', httpStatus: status };
  // ServiceNow answers a dead refresh token with a 401 server_error/access_denied (FIELD-NOTES): only there, and
  // only on a refresh call, does that mean "expired".
  if (
    expiredSignal === 'servicenow' &&
    status === 401 &&
    error === 'server_error' &&
    field(body, 'error_description') === 'access_denied'
  ) {
    return { kind: 'expired', signal: 'servicenow_access_denied', httpStatus: status };
  }
  if (status === 429 || status >= 500 || error === 'temporarily_unavailable') {
    return { kind: 'retry', why: `http_${status}`, retryAfterMs: outcome.retryAfterMs };
  }
  if (error === 'invalid_client') return { kind: 'invalid_client', httpStatus: status };
  return { kind: 'rejected', httpStatus: status, error };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * grant_type=refresh_token at the provider's token endpoint, with the client authenticated as the catalogue says
 * (`basic` or `body`). Transient failures are retried with exponential back-off (or the provider's Retry-After)
 * while the budget allows; everything else answers at once.
 */
export async function refreshAtProvider(opts: {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  clientAuth: TOAuthSettings['tokenClientAuth'];
  expiredSignal: TOAuthSettings['refresh']['expiredSignal'];
  refreshToken: string;
  settings: TRefreshSettings;
}): Promise<TRefreshResult> {
  const { settings } = opts;
  const deadline = Date.now() + settings.budgetMs;
  const form: Record<string, string> = {
    grant_type: 'refresh_token',
    refresh_token: opts.refreshToken,
    ...(opts.clientAuth === 'body'
      ? { client_id: opts.clientId, client_secret: opts.clientSecret }
      : {}),
  };
  const headers: Record<string, string> =
    opts.clientAuth === 'basic'
      ? { authorization: basicAuth(opts.clientId, opts.clientSecret) }
      : {};
  let lastWhy = 'budget_exhausted';
  for (let attempt = 1; attempt <= settings.maxAttempts; attempt++) {
    const left = deadline - Date.now();
    if (left < 50) return { kind: 'transient', why: lastWhy, attempts: attempt - 1 };
    const outcome = await callProvider({
      method: 'POST',
      url: opts.tokenUrl,
      headers,
      form,
      timeoutMs: Math.min(settings.attemptTimeoutMs, left),
    });
    const verdict = classifyRefreshAnswer(outcome, opts.expiredSignal);
    if (verdict.kind !== 'retry') return verdict;
    lastWhy = verdict.why;
    if (attempt === settings.maxAttempts) break;
    const backoff =
      verdict.retryAfterMs ?? settings.backoffMs * 2 ** (attempt - 1) * (0.75 + Math.random() / 2);
    // Waiting past the budget is pointless: give up now and let the caller retry later.
    if (Date.now() + backoff + 50 > deadline) {
      return { kind: 'transient', why: lastWhy, attempts: attempt };
    }
    await sleep(backoff);
  }
  return { kind: 'transient', why: lastWhy, attempts: settings.maxAttempts };
}
