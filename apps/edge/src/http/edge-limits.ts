import { BoundedTtlMap } from '@otesse/runtime';
import { ZEdgeLimitsEnv, type TEdgeLimitsEnv } from '../env.schema';
import { RateLimiter, type TRateLimit } from './rate-limiter';

export interface TEdgeLimitsConfig {
  /** Largest request body, bytes. */
  maxBodyBytes: number;
  /** Proxies in front of the edge that append to X-Forwarded-For. */
  trustedProxyHops: number;
  /**
   * Failed bearer-token verifications per client IP; the same numbers bound refused webhook deliveries per
   * client IP and endpoint, in buckets of their own.
   */
  authFailures: TRateLimit;
  /** OAuth route requests (`/connect/*`) per client IP. */
  oauth: TRateLimit;
  /** Authenticated procedure calls per API token. */
  perToken: TRateLimit;
  /** Progress streams open at once per API token. */
  streamsPerToken: number;
}

export interface TEdgeLimits {
  maxBodyBytes: number;
  trustedProxyHops: number;
  authFailures: RateLimiter;
  /**
   * Refused webhook deliveries, keyed by client IP and endpoint (`webhookFailureKey`): apart from bearer tokens
   * and from other endpoints, since providers send every customer's deliveries from the same few addresses.
   */
  webhookFailures: RateLimiter;
  /**
   * Deliveries to endpoints that do not exist, per client IP: past it, an address is refused (429) before its body is
   * read or the endpoint looked up — except for endpoints this edge found recently (`knownWebhookEndpoints`), so a
   * provider address that also delivers to a deleted instance keeps delivering to the live ones.
   */
  webhookUnknown: RateLimiter;
  knownWebhookEndpoints: RecentKeys;
  oauth: RateLimiter;
  perToken: RateLimiter;
  /** Progress streams open per API token. */
  streams: StreamSlots;
}

/** Keys seen within `ttlMs`, at most `max` of them (the oldest go first). */
export class RecentKeys {
  private readonly seen: BoundedTtlMap<true>;
  constructor(ttlMs: number, max: number) {
    this.seen = new BoundedTtlMap(ttlMs, max);
  }

  add(key: string): void {
    this.seen.set(key, true);
  }

  has(key: string): boolean {
    return this.seen.has(key);
  }
}

/**
 * Open streams per key, up to a limit: a stream holds its slot from its first read to its end (the client gone, the
 * saga terminal, an error), so a token cannot keep an unbounded number of saga-log pollers running.
 */
export class StreamSlots {
  private readonly open = new Map<string, number>();
  constructor(readonly limit: number) {}

  /** Takes a slot; false when the key already holds `limit`. */
  take(key: string): boolean {
    const n = this.open.get(key) ?? 0;
    if (n >= this.limit) return false;
    this.open.set(key, n + 1);
    return true;
  }

  release(key: string): void {
    const n = (this.open.get(key) ?? 0) - 1;
    // No entry for a key with nothing open: the map holds only live streams' keys.
    if (n > 0) this.open.set(key, n);
    else this.open.delete(key);
  }

  /** Streams open for a key (tests, metrics). */
  held(key: string): number {
    return this.open.get(key) ?? 0;
  }
}

export function edgeLimitsFromEnv(env: TEdgeLimitsEnv): TEdgeLimitsConfig {
  return {
    maxBodyBytes: env.EDGE_MAX_BODY_BYTES,
    trustedProxyHops: env.EDGE_TRUSTED_PROXY_HOPS,
    authFailures: { limit: env.RATE_LIMIT_AUTH_FAILURES, windowMs: env.RATE_LIMIT_AUTH_WINDOW_MS },
    oauth: { limit: env.RATE_LIMIT_OAUTH, windowMs: env.RATE_LIMIT_OAUTH_WINDOW_MS },
    perToken: { limit: env.RATE_LIMIT_TOKEN, windowMs: env.RATE_LIMIT_TOKEN_WINDOW_MS },
    streamsPerToken: env.EDGE_MAX_STREAMS_PER_TOKEN,
  };
}

/** The env schema's defaults. */
export const DEFAULT_EDGE_LIMITS: TEdgeLimitsConfig = edgeLimitsFromEnv(ZEdgeLimitsEnv.parse({}));

export function createEdgeLimits(cfg: Partial<TEdgeLimitsConfig> = {}): TEdgeLimits {
  const c = { ...DEFAULT_EDGE_LIMITS, ...cfg };
  return {
    maxBodyBytes: c.maxBodyBytes,
    trustedProxyHops: c.trustedProxyHops,
    authFailures: new RateLimiter('auth_failures', c.authFailures),
    webhookFailures: new RateLimiter('auth_failures', c.authFailures),
    webhookUnknown: new RateLimiter('webhook_unknown', c.authFailures),
    knownWebhookEndpoints: new RecentKeys(10 * 60_000, 50_000),
    oauth: new RateLimiter('oauth', c.oauth),
    perToken: new RateLimiter('token', c.perToken),
    streams: new StreamSlots(c.streamsPerToken),
  };
}

/** One endpoint as seen from one client address: what a refused webhook delivery is charged to. */
export function webhookFailureKey(ip: string, vendor: string, instanceId: string): string {
  return `${ip} ${vendor}/${instanceId}`;
}
