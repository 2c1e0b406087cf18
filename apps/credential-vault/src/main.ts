import { definedOnly } from '@otesse/config';
import { migrateSchema } from '@otesse/persistence';
import { idempotencyRecordsFromEnv, runMain, serviceConfigFromEnv } from '@otesse/runtime';
import { startCredentialVault } from './credential-vault.service';
import { vaultOrmConfig } from './db/orm.config';
import { DEV_MASTER_KEYS, ZVaultEnv } from './env.schema';

await runMain({
  name: 'credential-vault',
  env: ZVaultEnv,
  migrate: (env) => migrateSchema(vaultOrmConfig(env.DATABASE_URL)),
  start: (env, logger) => {
    if (!env.VAULT_MASTER_KEY) {
      logger.warn(
        { keyId: DEV_MASTER_KEYS[0]?.keyId },
        'VAULT_MASTER_KEY is not set and VAULT_ALLOW_DEV_KEY=true: using the publicly known development key (a throwaway local run only)',
      );
    }
    return startCredentialVault({
      ...serviceConfigFromEnv(env, logger),
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
      idempotencyRecords: idempotencyRecordsFromEnv(env),
    });
  },
});
