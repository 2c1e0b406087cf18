import { migrateSchema } from '@otesse/persistence';
import { idempotencyRecordsFromEnv, runMain, serviceConfigFromEnv } from '@otesse/runtime';
import { syncSchedulerOrmConfig } from './db/orm.config';
import { ZSyncSchedulerEnv } from './env.schema';
import { startSyncScheduler } from './sync-scheduler.service';

await runMain({
  name: 'sync-scheduler',
  env: ZSyncSchedulerEnv,
  migrate: (env) => migrateSchema(syncSchedulerOrmConfig(env.DATABASE_URL)),
  start: (env, logger) =>
    startSyncScheduler({
      ...serviceConfigFromEnv(env, logger),
      idempotencyRecords: idempotencyRecordsFromEnv(env),
      providersFile: env.PROVIDERS_FILE,
      executionRetention: {
        days: env.SYNC_EXECUTION_RETENTION_DAYS,
        purgeIntervalMs: env.SYNC_EXECUTION_PURGE_INTERVAL_MS,
      },
      engine: {
        enabled: env.SYNC_ENGINE === 'true',
        ...(env.SERVICE_INSTANCE_ID ? { instanceId: env.SERVICE_INSTANCE_ID } : {}),
        ...(env.SYNC_TICK_MS ? { tickMs: env.SYNC_TICK_MS } : {}),
        ...(env.SYNC_LEASE_MS ? { leaseMs: env.SYNC_LEASE_MS } : {}),
        ...(env.SYNC_CLAIM_BATCH ? { claimBatch: env.SYNC_CLAIM_BATCH } : {}),
        ...(env.SYNC_CONCURRENCY ? { concurrency: env.SYNC_CONCURRENCY } : {}),
        ...(env.SYNC_PAGE_SIZE ? { pageSize: env.SYNC_PAGE_SIZE } : {}),
        ...(env.SYNC_MAX_TAKEOVERS !== undefined ? { maxTakeovers: env.SYNC_MAX_TAKEOVERS } : {}),
      },
    }),
});
