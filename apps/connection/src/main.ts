import { natsTlsOf, parseEnv } from '@otesse/config';
import { createLogger } from '@otesse/logging';
import { exitWhenNatsLost, stopOnSignals } from '@otesse/runtime';
import { ensureTracing } from '@otesse/telemetry';
import { startConnection } from './connection.service';
import { ZConnectionEnv } from './env.schema';

const env = parseEnv('connection', ZConnectionEnv);
const logger = createLogger({ name: 'connection', level: env.LOG_LEVEL });
try {
  // Tracing from OTEL_* before anything starts: a bad variable stops the process here, not after migrations.
  ensureTracing();
  const svc = await startConnection({
    databaseUrl: env.DATABASE_URL,
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
  });
  stopOnSignals(svc.stop, logger);
  exitWhenNatsLost(svc.natsLost, logger);
} catch (e) {
  logger.fatal({ err: e }, (e as Error).message);
  process.exit(1);
}
