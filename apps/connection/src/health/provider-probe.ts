import { isAppError, type THealthStatus } from '@otesse/contracts';
import type { Bus } from '@otesse/messaging';

export interface TProbeResult {
  /** undefined: the check could not run for a reason of ours (vault down…): leave the health as it is. */
  status: THealthStatus | undefined;
  /** Short, secret-free reason (`ok`, `slow`, `http_401`, `timeout`, `refresh_token_expired`…). */
  detail: string;
}

/**
 * One health check of a connection against its provider: an access token from the vault (which refreshes it
 * when due), then GET the data API's health path with it.
 * - 2xx → healthy (degraded when slower than `degradedAfterMs`);
 * - 429 or 5xx → degraded (the provider answers, but not well);
 * - 401 → the vault is told the token was refused (by its fingerprint) and renews it, even before its recorded
 *   expiry; the probe is made once more with the new token: a 401 again → unhealthy `token_refused` (never a
 *   second renewal); the renewal failing → as below (refresh token expired: the vault flags the connection);
 * - 403, a timeout, an unreachable host → unhealthy;
 * - the vault cannot give a token: its token endpoint failing (5xx/timeout) → degraded; refresh token expired,
 * no credential, provider refused the refresh → unhealthy;
 * - the vault itself does not answer → no verdict (it is not the provider's fault).
 */
export async function probeProvider(
  bus: Bus,
  opts: {
    orgId: string;
    connectionId: string;
    url: string;
    timeoutMs: number;
    degradedAfterMs: number;
  },
): Promise<TProbeResult> {
  const token = await tokenFor(bus, opts);
  if ('status' in token) return token;
  const first = await call(opts, token.accessToken);
  if (first.httpStatus !== 401) return first.result;
  // Refused before its recorded expiry (password change, sessions revoked, early rotation): renew it, once.
  const renewed = await tokenFor(bus, opts, token.fingerprint);
  // The vault not answering gives no verdict of its own: the provider's refusal stands.
  if ('status' in renewed) return renewed.status === undefined ? first.result : renewed;
  if (
    renewed.accessToken === token.accessToken ||
    (token.fingerprint !== undefined && renewed.fingerprint === token.fingerprint)
  ) {
    return first.result;
  }
  const second = await call(opts, renewed.accessToken);
  return second.httpStatus === 401
    ? { status: 'unhealthy', detail: 'token_refused' }
    : second.result;
}

/** A token from the vault (which may refresh first), or the verdict when it has none to give. */
async function tokenFor(
  bus: Bus,
  opts: { orgId: string; connectionId: string; timeoutMs: number },
  refusedFingerprint?: string,
): Promise<{ accessToken: string; fingerprint: string | undefined } | TProbeResult> {
  try {
    // The vault may refresh first (bounded by its own budget): give it time.
    const token = await bus.request(
      'vault.access-tokens.get',
      {
        orgId: opts.orgId,
        connectionId: opts.connectionId,
        ...(refusedFingerprint === undefined ? {} : { refusedFingerprint }),
      },
      { timeoutMs: Math.max(opts.timeoutMs, 6_000) },
    );
    return { accessToken: token.accessToken, fingerprint: token.fingerprint };
  } catch (e) {
    if (isAppError(e) && (e.code === 'UNAVAILABLE' || e.code === 'TIMEOUT')) {
      // The provider's token endpoint being down is the provider's health; the vault being down is ours.
      return e.reason === 'provider_unavailable'
        ? { status: 'degraded', detail: 'token_endpoint_unavailable' }
        : { status: undefined, detail: 'vault_unavailable' };
    }
    // A token the vault will not renew yet (refused again right after a renewal): the provider refuses us.
    if (isAppError(e) && e.reason === 'access_token_refused')
      return { status: 'unhealthy', detail: 'token_refused' };
    if (isAppError(e)) return { status: 'unhealthy', detail: e.reason ?? e.code.toLowerCase() };
    throw e;
  }
}

/** GET the health path with a token: the verdict, and the HTTP status when the provider answered. */
async function call(
  opts: { url: string; timeoutMs: number; degradedAfterMs: number },
  accessToken: string,
): Promise<{ httpStatus: number | null; result: TProbeResult }> {
  const started = performance.now();
  let res: Response;
  try {
    res = await fetch(opts.url, {
      headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
      signal: AbortSignal.timeout(opts.timeoutMs),
      redirect: 'manual',
    });
    await res.body?.cancel();
  } catch (e) {
    const name = (e as Error).name;
    return {
      httpStatus: null,
      result: {
        status: 'unhealthy',
        detail: name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'unreachable',
      },
    };
  }
  const ms = performance.now() - started;
  const httpStatus = res.status;
  if (httpStatus >= 200 && httpStatus < 300) {
    return {
      httpStatus,
      result:
        ms > opts.degradedAfterMs
          ? { status: 'degraded', detail: 'slow' }
          : { status: 'healthy', detail: 'ok' },
    };
  }
  if (httpStatus === 429 || httpStatus >= 500)
    return { httpStatus, result: { status: 'degraded', detail: `http_${httpStatus}` } };
  return { httpStatus, result: { status: 'unhealthy', detail: `http_${httpStatus}` } };
}
