import { migrateSchema } from '@otesse/persistence';
import { idempotencyRecordsFromEnv, runMain, serviceConfigFromEnv } from '@otesse/runtime';
import { startConnection } from './connection.service';
import { connectionOrmConfig } from './db/orm.config';
import { ZConnectionEnv } from './env.schema';

await runMain({
  name: 'connection',
  env: ZConnectionEnv,
  migrate: (env) => migrateSchema(connectionOrmConfig(env.DATABASE_URL)),
  start: (env, logger) =>
    startConnection({
      ...serviceConfigFromEnv(env, logger),
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
      idempotencyRecords: idempotencyRecordsFromEnv(env),
    }),
});
