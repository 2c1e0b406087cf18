import { natsTlsOf, parseEnv } from '@otesse/config';
import { createLogger } from '@otesse/logging';
import { exitWhenNatsLost, stopOnSignals } from '@otesse/runtime';
import { ensureTracing } from '@otesse/telemetry';
import { startAudit } from './audit.service';
import { ZAuditEnv } from './env.schema';

const env = parseEnv('audit', ZAuditEnv);
const logger = createLogger({ name: 'audit', level: env.LOG_LEVEL });
try {
  // Tracing from OTEL_* before anything starts: a bad variable stops the process here, not after migrations.
  ensureTracing();
  const svc = await startAudit({
    databaseUrl: env.DATABASE_URL,
    migrationsDatabaseUrl: env.MIGRATIONS_DATABASE_URL,
    natsUrl: env.NATS_URL,
    natsUser: env.NATS_USER,
    natsPassword: env.NATS_PASSWORD,
    natsTls: natsTlsOf(env),
    natsStreamReplicas: env.NATS_STREAM_REPLICAS,
    logger,
    healthPort: env.HEALTH_PORT,
    healthHost: env.HEALTH_HOST,
    databasePoolMax: env.DATABASE_POOL_MAX,
  });
  stopOnSignals(svc.stop, logger);
  exitWhenNatsLost(svc.natsLost, logger);
} catch (e) {
  logger.fatal({ err: e }, (e as Error).message);
  process.exit(1);
}
