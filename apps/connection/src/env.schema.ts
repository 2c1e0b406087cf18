import { z } from 'zod';
import { ZDatabaseUrl, ZIdempotencyRecordEnv, ZOptionalFile, ZServiceEnv } from '@otesse/config';

export const ZConnectionEnv = ZServiceEnv.extend(ZIdempotencyRecordEnv.shape).extend({
  DATABASE_URL: ZDatabaseUrl.default('postgres://otesse_connection@127.0.0.1:5432/otesse'),
  /** Catalogue overrides: where the health checks reach each provider's data API. */
  PROVIDERS_FILE: ZOptionalFile,
  /** Between two periodic health checks of one instance (default 5 min). */
  HEALTH_CHECK_INTERVAL_MS: z.coerce.number().int().min(100).max(86_400_000).optional(),
  /** One health-check call to a provider (default 5 s). */
  HEALTH_CHECK_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).optional(),
  /** Between two sweeps of connects that will never finish (default 30 s). */
  PENDING_CONNECT_SWEEP_MS: z.coerce.number().int().min(100).max(3_600_000).optional(),
  /**
   * A pending connection older than this no longer holds its slot and is abandoned by the sweep (default
   * STALE_PENDING_CONNECTION_MS, 2 min). Never shorter than a connect's own steps may take, retries included: a
   * connect overtaken is refused cleanly.
   */
  PENDING_CONNECT_STALE_MS: z.coerce.number().int().min(1_000).max(86_400_000).optional(),
  /**
   * How long the connection service's copy of a refresh-token expiry's audit entry waits for the vault's, which
   * carries the provider's answer (default 60 s; keep it well under JetStream's 120 s duplicate window).
   */
  REFRESH_EXPIRED_AUDIT_DELAY_MS: z.coerce.number().int().min(0).max(110_000).optional(),
  /** `false` runs no sweep of connects that will never finish (nor publishes its event outbox) in this replica. */
  PENDING_CONNECT_SWEEP_ENABLED: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  /** `false` runs no periodic health checks in this replica. */
  HEALTH_CHECKS_ENABLED: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
});
export type TConnectionEnv = z.infer<typeof ZConnectionEnv>;
