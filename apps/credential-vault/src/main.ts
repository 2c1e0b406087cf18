import { definedOnly, natsTlsOf, parseEnv } from '@otesse/config';
import { createLogger } from '@otesse/logging';
import { exitWhenNatsLost, stopOnSignals } from '@otesse/runtime';
import { ensureTracing } from '@otesse/telemetry';
import { startCredentialVault } from './credential-vault.service';
import { DEV_MASTER_KEYS, ZVaultEnv } from './env.schema';

const env = parseEnv('credential-vault', ZVaultEnv);
const logger = createLogger({ name: 'credential-vault', level: env.LOG_LEVEL });
if (!env.VAULT_MASTER_KEY) {
  logger.warn(
    { keyId: DEV_MASTER_KEYS[0]?.keyId },
    'VAULT_MASTER_KEY is not set: using the publicly known development key (never in production)',
  );
}
try {
  // Tracing from OTEL_* before anything starts: a bad variable stops the process here, not after migrations.
  ensureTracing();
  const svc = await startCredentialVault({
    databaseUrl: env.DATABASE_URL,
    natsUrl: env.NATS_URL,
    natsUser: env.NATS_USER,
    natsPassword: env.NATS_PASSWORD,
    natsTls: natsTlsOf(env),
    natsStreamReplicas: env.NATS_STREAM_REPLICAS,
    masterKeys: env.VAULT_MASTER_KEY ?? DEV_MASTER_KEYS,
    providersFile: env.PROVIDERS_FILE,
    refresh: definedOnly({
      marginMs: env.TOKEN_REFRESH_MARGIN_MS,
      attemptTimeoutMs: env.TOKEN_REFRESH_ATTEMPT_TIMEOUT_MS,
      budgetMs: env.TOKEN_REFRESH_BUDGET_MS,
      refusalBackoffMs: env.TOKEN_REFUSAL_BACKOFF_MS,
      refusalBackoffMaxMs: env.TOKEN_REFUSAL_BACKOFF_MAX_MS,
    }),
    discard: definedOnly({
      sweepIntervalMs: env.VAULT_DISCARD_SWEEP_MS,
      staleAfterMs: env.VAULT_DISCARD_STALE_MS,
    }),
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
