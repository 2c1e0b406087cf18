import { z } from 'zod';
import { ZIdempotencyRecordEnv, ZOptionalFile, ZServiceEnv } from '@otesse/config';

const ms = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const ZSyncSchedulerEnv = ZServiceEnv.extend(ZIdempotencyRecordEnv.shape).extend({
  DATABASE_URL: z.url().default('postgres://otesse_sync@127.0.0.1:5432/otesse'),
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
});
export type TSyncSchedulerEnv = z.infer<typeof ZSyncSchedulerEnv>;
