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
 * - 401/403, a timeout, an unreachable host → unhealthy;
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
  let accessToken: string;
  try {
    // The vault may refresh first (bounded by its own budget): give it time.
    const token = await bus.request(
      'vault.access-tokens.get',
      { orgId: opts.orgId, connectionId: opts.connectionId },
      { timeoutMs: Math.max(opts.timeoutMs, 6_000) },
    );
    accessToken = token.accessToken;
  } catch (e) {
    if (isAppError(e) && (e.code === 'UNAVAILABLE' || e.code === 'TIMEOUT')) {
      // The provider's token endpoint being down is the provider's health; the vault being down is ours.
      return e.reason === 'provider_unavailable'
        ? { status: 'degraded', detail: 'token_endpoint_unavailable' }
        : { status: undefined, detail: 'vault_unavailable' };
    }
    if (isAppError(e)) return { status: 'unhealthy', detail: e.reason ?? e.code.toLowerCase() };
    throw e;
  }
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
      status: 'unhealthy',
      detail: name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'unreachable',
    };
  }
  const ms = performance.now() - started;
  if (res.status >= 200 && res.status < 300) {
    return ms > opts.degradedAfterMs
      ? { status: 'degraded', detail: 'slow' }
      : { status: 'healthy', detail: 'ok' };
  }
  if (res.status === 429 || res.status >= 500)
    return { status: 'degraded', detail: `http_${res.status}` };
  return { status: 'unhealthy', detail: `http_${res.status}` };
}
