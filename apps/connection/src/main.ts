import { natsTlsOf } from '@otesse/config';
import { migrateSchema } from '@otesse/persistence';
import { runMain } from '@otesse/runtime';
import { startConnection } from './connection.service';
import { connectionOrmConfig } from './db/orm.config';
import { ZConnectionEnv } from './env.schema';

await runMain({
  name: 'connection',
  env: ZConnectionEnv,
  migrate: (env) => migrateSchema(connectionOrmConfig(env.DATABASE_URL)),
  start: (env, logger) =>
    startConnection({
      databaseUrl: env.DATABASE_URL,
      migrateOnStart: env.MIGRATE_ON_START,
      natsUrl: env.NATS_URL,
      natsUser: env.NATS_USER,
      natsPassword: env.NATS_PASSWORD,
      natsTls: natsTlsOf(env),
      natsStreamReplicas: env.NATS_STREAM_REPLICAS,
      providersFile: env.PROVIDERS_FILE,
      healthChecks: {
        enabled: env.HEALTH_CHECKS_ENABLED,
        ...(env.HEALTH_CHECK_INTERVAL_MS ? { intervalMs: env.HEALTH_CHECK_INTERVAL_MS } : {}),
        ...(env.HEALTH_CHECK_TIMEOUT_MS ? { timeoutMs: env.HEALTH_CHECK_TIMEOUT_MS } : {}),
      },
      pendingSweep: {
        enabled: env.PENDING_CONNECT_SWEEP_ENABLED,
        ...(env.PENDING_CONNECT_SWEEP_MS ? { intervalMs: env.PENDING_CONNECT_SWEEP_MS } : {}),
        ...(env.PENDING_CONNECT_STALE_MS ? { staleAfterMs: env.PENDING_CONNECT_STALE_MS } : {}),
      },
      refreshExpiredAuditDelayMs: env.REFRESH_EXPIRED_AUDIT_DELAY_MS,
      logger,
      healthPort: env.HEALTH_PORT,
      healthHost: env.HEALTH_HOST,
      databasePoolMax: env.DATABASE_POOL_MAX,
      idempotencyRecords: {
        retentionMs: env.IDEMPOTENCY_RECORD_RETENTION_MS,
        purgeIntervalMs: env.IDEMPOTENCY_PURGE_INTERVAL_MS,
      },
    }),
});
