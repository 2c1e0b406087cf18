import { z } from 'zod';
import { ZDatabaseUrl, ZIdempotencyRecordEnv, ZOptionalFile, ZServiceEnv } from '@otesse/config';

const ms = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const ZSyncSchedulerEnv = ZServiceEnv.extend(ZIdempotencyRecordEnv.shape).extend({
  DATABASE_URL: ZDatabaseUrl.default('postgres://otesse_sync@127.0.0.1:5432/otesse'),
  /** Catalogue overrides: where each provider's data API is (the fake provider in dev and tests). */
  PROVIDERS_FILE: ZOptionalFile,
  /** `false` runs the NATS endpoints only (no claims, no executions). */
  SYNC_ENGINE: z.enum(['true', 'false']).default('true'),
  /** How often a replica sweeps expired leases and claims due jobs. */
  SYNC_TICK_MS: ms(10, 60_000).optional(),
  /** How long a runner's claim lasts without a heartbeat (crash detection). */
  SYNC_LEASE_MS: ms(200, 600_000).optional(),
  /** Jobs claimed per transaction. */
  SYNC_CLAIM_BATCH: ms(1, 1_000).optional(),
  /** Executions one replica runs at once. */
  SYNC_CONCURRENCY: ms(1, 256).optional(),
  /** Records per page (= per batch transaction); default: the catalogue's dataApi.pageSize. */
  SYNC_PAGE_SIZE: ms(1, 1_000).optional(),
  /** Takeovers after crashed runners before an execution is failed (`lease_expired`). */
  SYNC_MAX_TAKEOVERS: ms(0, 100).optional(),
  /**
   * Ended executions are deleted this many days after they finished (each job's newest is kept; the panel's counts
   * keep them all). A job runs every interval for as long as it exists: without it the history grows without end.
   */
  SYNC_EXECUTION_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(90),
  /** How often this replica deletes them (0: never; another replica, or nobody, does it). */
  SYNC_EXECUTION_PURGE_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(86_400_000)
    .default(3_600_000),
});
export type TSyncSchedulerEnv = z.infer<typeof ZSyncSchedulerEnv>;
