import { natsTlsOf, parseEnv } from '@otesse/config';
import { createLogger } from '@otesse/logging';
import { exitWhenNatsLost, stopOnSignals } from '@otesse/runtime';
import { ensureTracing } from '@otesse/telemetry';
import { ZSyncSchedulerEnv } from './env.schema';
import { startSyncScheduler } from './sync-scheduler.service';

const env = parseEnv('sync-scheduler', ZSyncSchedulerEnv);
const logger = createLogger({ name: 'sync-scheduler', level: env.LOG_LEVEL });
try {
  // Tracing from OTEL_* before anything starts: a bad variable stops the process here, not after migrations.
  ensureTracing();
  const svc = await startSyncScheduler({
    databaseUrl: env.DATABASE_URL,
    natsUrl: env.NATS_URL,
    natsUser: env.NATS_USER,
    natsPassword: env.NATS_PASSWORD,
    natsTls: natsTlsOf(env),
    natsStreamReplicas: env.NATS_STREAM_REPLICAS,
    logger,
    healthPort: env.HEALTH_PORT,
    healthHost: env.HEALTH_HOST,
    databasePoolMax: env.DATABASE_POOL_MAX,
    idempotencyRecords: {
      retentionMs: env.IDEMPOTENCY_RECORD_RETENTION_MS,
      purgeIntervalMs: env.IDEMPOTENCY_PURGE_INTERVAL_MS,
    },
    providersFile: env.PROVIDERS_FILE,
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
  });
  stopOnSignals(svc.stop, logger);
  exitWhenNatsLost(svc.natsLost, logger);
} catch (e) {
  logger.fatal({ err: e }, (e as Error).message);
  process.exit(1);
}
