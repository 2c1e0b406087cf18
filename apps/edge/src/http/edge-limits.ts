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
  oauth: RateLimiter;
  perToken: RateLimiter;
}

export function edgeLimitsFromEnv(env: TEdgeLimitsEnv): TEdgeLimitsConfig {
  return {
    maxBodyBytes: env.EDGE_MAX_BODY_BYTES,
    trustedProxyHops: env.EDGE_TRUSTED_PROXY_HOPS,
    authFailures: { limit: env.RATE_LIMIT_AUTH_FAILURES, windowMs: env.RATE_LIMIT_AUTH_WINDOW_MS },
    oauth: { limit: env.RATE_LIMIT_OAUTH, windowMs: env.RATE_LIMIT_OAUTH_WINDOW_MS },
    perToken: { limit: env.RATE_LIMIT_TOKEN, windowMs: env.RATE_LIMIT_TOKEN_WINDOW_MS },
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
    oauth: new RateLimiter('oauth', c.oauth),
    perToken: new RateLimiter('token', c.perToken),
  };
}

/** One endpoint as seen from one client address: what a refused webhook delivery is charged to. */
export function webhookFailureKey(ip: string, vendor: string, instanceId: string): string {
  return `${ip} ${vendor}/${instanceId}`;
}
