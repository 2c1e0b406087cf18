import { readFileSync } from 'node:fs';
import { z } from 'zod';
import {
  pairIssue,
  throwEnvIssues,
  ZDatabaseUrl,
  ZOptionalFile,
  ZServiceEnv,
} from '@otesse/config';
import { SAGA_RECORD_RELEASE_INTERVAL_MS, SAGA_RECORD_RETENTION_MS } from '@otesse/saga';
import { WEBHOOK_DEDUPE_RETENTION_MS } from './webhooks/seen-deliveries';

const count = (max: number) => z.coerce.number().int().min(1).max(max);
const windowMs = z.coerce.number().int().min(100).max(86_400_000);

/** Body size and rate limits (their own object so the edge can read them alone, see `edgeLimitsFromEnv`). */
export const ZEdgeLimitsEnv = z.object({
  /** Largest request body (tRPC, REST, OAuth) before 413 PAYLOAD_TOO_LARGE. */
  EDGE_MAX_BODY_BYTES: count(16 * 1024 * 1024).default(256 * 1024),
  /**
   * Reverse proxies in front of the edge that append to X-Forwarded-For (0: the socket's address is the
   * client). Rate limits and audit IPs use the address this many hops from the right.
   */
  EDGE_TRUSTED_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
  /**
   * Refused credentials (token bucket: this many at once, refilled over the window): failed bearer tokens per client
   * IP (a valid token always passes), refused webhook deliveries per client IP and endpoint.
   */
  RATE_LIMIT_AUTH_FAILURES: count(1_000_000).default(20),
  RATE_LIMIT_AUTH_WINDOW_MS: windowMs.default(60_000),
  /** Requests to the OAuth routes (`/connect/start/*`, `/connect/*\/callback`) per client IP. */
  RATE_LIMIT_OAUTH: count(1_000_000).default(600),
  RATE_LIMIT_OAUTH_WINDOW_MS: windowMs.default(60_000),
  /** Authenticated tRPC/REST calls per API token (generous: the dashboard and batch clients share a token). */
  RATE_LIMIT_TOKEN: count(10_000_000).default(3_000),
  RATE_LIMIT_TOKEN_WINDOW_MS: windowMs.default(60_000),
  /**
   * Progress streams (SSE) open at once per API token on one edge: each reads the saga log every 250 ms while its
   * saga runs, and a saga waiting on a service may run for hours. One more is refused 429 until one closes.
   */
  EDGE_MAX_STREAMS_PER_TOKEN: count(10_000).default(16),
});

/** Saga retry delays (their own object so the edge can read them alone, as with `ZEdgeLimitsEnv`). */
export const ZEdgeSagaRetryEnv = z.object({
  /**
   * The longest delay between retries that go on until done (a step past the pivot, a compensation, a saga's audit
   * hook): they double from 100 ms up to this, so an outage of an hour costs each saga about 170 attempts, not
   * thousands. Retries before the pivot stay quick (at most 2 s apart) and end in a compensation.
   */
  SAGA_RETRY_MAX_MS: z.coerce.number().int().min(1_000).max(600_000).default(30_000),
  /**
   * Before the pivot, a step whose service is away (no responders, or its database out of reach) is retried this
   * long before the saga compensates, so a service's restart or rolling deploy delays a disconnect instead of
   * failing it. 0: only the step's attempts count (3, about 0.3 s).
   */
  SAGA_UNAVAILABLE_RETRY_MS: z.coerce.number().int().min(0).max(120_000).default(10_000),
});

export const ZEdgeEnv = ZServiceEnv.extend({
  DATABASE_URL: ZDatabaseUrl.default('postgres://otesse_edge@127.0.0.1:5432/otesse'),
  EDGE_HOST: z.string().default('127.0.0.1'),
  EDGE_PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** Where browsers reach the edge (OAuth redirect URIs are built from it). */
  EDGE_PUBLIC_URL: z.url().optional(),
  /** Where the dashboard lives: OAuth results redirect there; CORS allows it; its origin may POST start links. */
  DASHBOARD_URL: z.url().default('http://127.0.0.1:5173'),
  PROVIDERS_FILE: ZOptionalFile,
  /**
   * Signs grant's session cookie; every replica needs the same one. Random per process when unset (dev only);
   * empty is unset (compose passes it through from the shell).
   */
  OAUTH_SESSION_SECRET: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z.string().min(32).optional(),
  ),
  SAGA_LEASE_MS: z.coerce.number().int().min(500).default(15_000),
  SAGA_RECOVERY_INTERVAL_MS: z.coerce.number().int().min(0).default(1_000),
  /**
   * A saga stopped past its pivot is resumed on its own this long after it stopped, twice as long after each
   * further stop, at most SAGA_AUTO_RESUME_MAX_MS apart. 0: only a person resumes it (operations.resume).
   */
  SAGA_AUTO_RESUME_MS: z.coerce.number().int().min(0).default(900_000),
  SAGA_AUTO_RESUME_MAX_MS: z.coerce.number().int().min(1_000).default(86_400_000),
  /**
   * The services keep each saga command's idempotency record (what a replay answers) until the saga has been
   * completed or compensated for this long; a stopped saga keeps them. Every SAGA_RECORD_RELEASE_INTERVAL_MS each
   * edge releases the due ones (0: never).
   */
  SAGA_RECORD_RETENTION_MS: z.coerce.number().int().min(1_000).default(SAGA_RECORD_RETENTION_MS),
  SAGA_RECORD_RELEASE_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(86_400_000)
    .default(SAGA_RECORD_RELEASE_INTERVAL_MS),
  /**
   * How long the saga log (the operations list, a saga's timeline) keeps an ended saga once its records were
   * released; the same run as the release deletes the older ones. 0 (the default): for ever. The audit trail is
   * not touched.
   */
  SAGA_HISTORY_RETENTION_MS: z.coerce.number().int().min(0).default(0),
  /**
   * On SIGTERM: how long requests in flight may still take (a `disconnect.start` waiting for its saga) before their
   * connections are closed. Event streams are closed at once (clients reconnect to another replica).
   */
  EDGE_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
  /**
   * On SIGTERM, before anything closes: how long the edge keeps serving every request while `/readyz` answers 503,
   * so a load balancer takes it out of rotation first (set it to the balancer's probe interval × its unhealthy
   * threshold). 0 (the default, nothing in front): the ports close at once.
   */
  EDGE_SHUTDOWN_DELAY_MS: z.coerce.number().int().min(0).max(300_000).default(0),
  /**
   * Serve the public port over HTTPS with this certificate (PEM, the chain after it) and key: both or neither.
   * Unset: plain HTTP, for a TLS-terminating proxy or load balancer in front (EDGE_TRUSTED_PROXY_HOPS).
   */
  EDGE_TLS_CERT_FILE: ZOptionalFile,
  EDGE_TLS_KEY_FILE: ZOptionalFile,
  /**
   * An OAuth start or callback that meets the edge's database out of reach waits this long for it before the
   * browser gets the "try again" page: the provider's code is single-use and short-lived, and a failover of a few
   * seconds should not send the user back to the provider. 0: that page at once.
   */
  EDGE_OAUTH_DATABASE_WAIT_MS: z.coerce.number().int().min(0).max(60_000).default(10_000),
  /**
   * How long a callback's code exchange with the provider's token endpoint may take in all, from the connection to
   * the answer's last byte (its answer is also cut past 64 KB). Past it the browser is told the connect failed.
   */
  EDGE_TOKEN_EXCHANGE_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  /**
   * How long the vault holds a callback's tokens, from the code exchange on, for the connect or the reconnect saga
   * that claims them. Not claimed by then (the edge died mid-connect), the vault revokes and destroys them. Longer
   * than a connect or a reconnect saga takes, even one resumed by another replica.
   */
  EDGE_TOKEN_STAGE_HOLD_SEC: z.coerce.number().int().min(10).max(3_600).default(900),
  /**
   * How often this edge deletes what OAuth flows left behind (grant's sessions past their expiry, pending
   * authorizations a day past theirs) and webhook delivery records past theirs (15 minutes for a signed timestamp's,
   * else EDGE_WEBHOOK_DEDUPE_RETENTION_MS). 0: never (another replica, or nobody, does it).
   */
  EDGE_OAUTH_PURGE_INTERVAL_MS: z.coerce.number().int().min(0).max(86_400_000).default(600_000),
  /**
   * How long the edge remembers a webhook delivery it published whose body alone is signed (QuickBooks, Xero: by
   * endpoint and body), so a copy of it — a provider's late retry, a replay — is answered and not published again.
   * Long enough for the providers' retries. Deliveries with a signed timestamp (Slack, HubSpot, Zendesk) are
   * remembered 15 minutes whatever this says: a copy is refused as stale after 5.
   */
  EDGE_WEBHOOK_DEDUPE_RETENTION_MS: z.coerce
    .number()
    .int()
    .min(600_000, 'must be at least 600000 (10 minutes)')
    .max(90 * 86_400_000)
    .default(WEBHOOK_DEDUPE_RETENTION_MS),
  /**
   * Serve Prometheus `/metrics` on the public port as well (`true`: development, where nothing scrapes an internal
   * port). Off unless told: the metrics name routes, error reasons and load, which are nobody's business outside;
   * scrape the internal operations server (HEALTH_PORT on HEALTH_HOST), which also answers /healthz and /readyz.
   */
  EDGE_PUBLIC_METRICS: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
})
  .extend(ZEdgeLimitsEnv.shape)
  .extend(ZEdgeSagaRetryEnv.shape);
export type TEdgeEnv = z.infer<typeof ZEdgeEnv>;
export type TEdgeLimitsEnv = z.infer<typeof ZEdgeLimitsEnv>;

/** The public port's certificate and key (EDGE_TLS_*), read once; undefined: plain HTTP. Half a pair is refused. */
export function edgeTlsOf(
  env: Pick<TEdgeEnv, 'EDGE_TLS_CERT_FILE' | 'EDGE_TLS_KEY_FILE'>,
): { cert: string; key: string } | undefined {
  throwEnvIssues('edge', [pairIssue(env, 'EDGE_TLS_CERT_FILE', 'EDGE_TLS_KEY_FILE')]);
  const { EDGE_TLS_CERT_FILE: certFile, EDGE_TLS_KEY_FILE: keyFile } = env;
  if (!certFile || !keyFile) return undefined;
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1']);

/**
 * Where browsers and providers reach the edge: EDGE_PUBLIC_URL, else (loopback only, as in development) the
 * address it listens on. Beyond loopback (`0.0.0.0` in the images) that address is no one's to reach, and OAuth
 * redirect URIs, webhook URLs and HubSpot's signed URL would all be wrong: the edge refuses to start instead.
 */
export function edgePublicUrlOf(
  env: Pick<TEdgeEnv, 'EDGE_PUBLIC_URL' | 'EDGE_HOST' | 'EDGE_TLS_CERT_FILE'>,
): string | undefined {
  throwEnvIssues('edge', [
    env.EDGE_PUBLIC_URL === undefined && !LOOPBACK_HOSTS.has(env.EDGE_HOST)
      ? {
          path: 'EDGE_PUBLIC_URL',
          message: `is required when the edge listens beyond loopback (EDGE_HOST=${env.EDGE_HOST}): OAuth redirect URIs and webhook URLs are built from it`,
        }
      : undefined,
  ]);
  return env.EDGE_PUBLIC_URL;
}
