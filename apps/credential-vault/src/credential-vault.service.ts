import { loadCatalogue, type Catalogue } from '@otesse/providers';
import {
  runService,
  type TIdempotencyRecordSettings,
  type TRunningService,
  processOptions,
  type TServiceProcessConfig,
} from '@otesse/runtime';
import { consumeAbandonedConnects } from './consumers/abandoned-connects.consumer';
import { MasterKeyRing, type TMasterKey } from './crypto/master-keys';
import { vaultOrmConfig } from './db/orm.config';
import { forgetIdempotencyRecordsHandler } from './handlers/forget-idempotency-records.handler';
import { describeCredentialsHandler } from './handlers/describe-credentials.handler';
import { describeWebhookSecretHandler } from './handlers/describe-webhook-secret.handler';
import { stageTokensHandler } from './handlers/stage-tokens.handler';
import { discardTokensHandler } from './handlers/discard-tokens.handler';
import { destroyCredentialsHandler } from './handlers/destroy-credentials.handler';
import { getAccessTokenHandler } from './handlers/get-access-token.handler';
import { removeWebhookSecretHandler } from './handlers/remove-webhook-secret.handler';
import { revokeTokensHandler } from './handlers/revoke-tokens.handler';
import { rotateKeysHandler } from './handlers/rotate-keys.handler';
import { setWebhookSecretHandler } from './handlers/set-webhook-secret.handler';
import { storeCredentialsHandler } from './handlers/store-credentials.handler';
import { swapCredentialsHandler } from './handlers/swap-credentials.handler';
import { verifyWebhookSignatureHandler } from './handlers/verify-webhook-signature.handler';
import { expirePreviousWebhookSecretHandler } from './handlers/expire-previous-webhook-secret.handler';
import { startPreviousSecretPurge } from './housekeeping/previous-secret-purge';
import { DEFAULT_REFRESH_SETTINGS, type TRefreshSettings } from './provider/token-endpoint';
import { checkMasterKeysOpenStoredData } from './crypto/master-key-check';
import {
  DEFAULT_DISCARD_SETTINGS,
  TokenDiscarder,
  type TDiscardSettings,
} from './discard/token-discarder';
import { TokenRefresher } from './refresh/token-refresher';
import { VAULT_DB_SCHEMA } from './credential-records';

export interface TCredentialVaultConfig extends TServiceProcessConfig {
  /** The first is active (new credentials, rotation target); the others still unwrap older data keys. */
  masterKeys: readonly TMasterKey[];
  /** Catalogue overrides; or pass `catalogue` directly (tests). */
  providersFile?: string | undefined;
  catalogue?: Catalogue;
  /** Token refresh margin, timeouts and retries (tests shrink them). */
  refresh?: Partial<TRefreshSettings>;
  /** How often and after how long discarded tokens nobody finished are swept (tests shrink them). */
  discard?: Partial<TDiscardSettings>;
  /** How long records of keys that are not a saga's are kept, and how often they are purged. */
  idempotencyRecords?: TIdempotencyRecordSettings | undefined;
}

/**
 * The credential vault: envelope-encrypted credentials and instances' webhook signing secrets over NATS
 * (`vault.*`), schema `vault`.
 */
export async function startCredentialVault(cfg: TCredentialVaultConfig): Promise<TRunningService> {
  // Validated before anything connects: a bad key ring must stop the start, not the first request.
  const keys = new MasterKeyRing(cfg.masterKeys);
  const catalogue = cfg.catalogue ?? loadCatalogue({ providersFile: cfg.providersFile });
  const settings: TRefreshSettings = { ...DEFAULT_REFRESH_SETTINGS, ...cfg.refresh };
  const discardSettings: TDiscardSettings = { ...DEFAULT_DISCARD_SETTINGS, ...cfg.discard };
  // Built with the handlers (it uses the revoke and destroy ones), swept from onStart.
  let discarder: TokenDiscarder | undefined;
  return runService({
    name: 'credential-vault',
    version: '0.1.0',
    prefix: 'vault',
    orm: { ...vaultOrmConfig(cfg.databaseUrl), poolMax: cfg.databasePoolMax },
    ...processOptions(cfg, '_INBOX_vault'),
    idempotencyRecords: { schema: VAULT_DB_SCHEMA, ...cfg.idempotencyRecords },
    // The vault appends audit entries (refresh token expired): the stream must exist even before the audit service.
    // It consumes abandoned connects from INTEGRATIONS, which may start before the connection service.
    streams: ['AUDIT', 'INTEGRATIONS'],
    beforeServing: async (orm, logger) => {
      const { keyIdsChecked } = await checkMasterKeysOpenStoredData(
        orm.em.getConnection().getKnex(),
        keys,
      );
      logger.info({ keyIdsChecked }, 'the master keys open the stored credentials');
    },
    handlers: ({ orm, logger, bus, events }) => {
      const deps = { orm, keys, catalogue, logger, bus, events };
      const refresher = new TokenRefresher({ ...deps, settings });
      const tokens = new TokenDiscarder(deps, discardSettings);
      discarder = tokens;
      return {
        'vault.credentials.store': storeCredentialsHandler(deps, tokens),
        'vault.credentials.describe': describeCredentialsHandler(deps),
        'vault.access-tokens.get': getAccessTokenHandler({ ...deps, refresher }),
        'vault.credentials.destroy': destroyCredentialsHandler(deps),
        'vault.keys.rotate': rotateKeysHandler(deps),
        'vault.tokens.revoke': revokeTokensHandler(deps),
        'vault.tokens.discard': discardTokensHandler(deps, tokens),
        'vault.tokens.stage': stageTokensHandler(deps),
        'vault.credentials.swap': swapCredentialsHandler(deps),
        'vault.webhook-secrets.set': setWebhookSecretHandler(deps),
        'vault.webhook-secrets.describe': describeWebhookSecretHandler(deps),
        'vault.webhook-secrets.expire-previous': expirePreviousWebhookSecretHandler(deps),
        'vault.webhook-secrets.remove': removeWebhookSecretHandler(deps),
        'vault.webhook-signatures.verify': verifyWebhookSignatureHandler(deps),
        'vault.idempotency-records.forget': forgetIdempotencyRecordsHandler(orm),
      };
    },
    onStart: async ({ nc, orm, logger }) => {
      if (!discarder) throw new Error('the discarder is built with the handlers');
      const consumer = await consumeAbandonedConnects({ nc, orm, logger, discarder });
      const stopPurge = await startPreviousSecretPurge(orm, logger);
      discarder.start(logger);
      return async () => {
        await discarder?.stop();
        await stopPurge();
        await consumer.stop();
      };
    },
  });
}
