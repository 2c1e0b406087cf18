import type { Knex } from '@mikro-orm/postgresql';
import type { THandler } from '@otesse/messaging';
import {
  destroyLiveCredentials,
  lockConnection,
  runVaultCommandOnce,
  sealCredentialRows,
  VAULT_DB_SCHEMA,
  withSafeDbErrors,
} from '../credential-records';
import type { TVaultDeps } from './deps';

/** Encrypts (outside the transaction: CPU only) and inserts; `replace` destroys the previous ones atomically. */
export function storeCredentialsHandler(
  deps: Pick<TVaultDeps, 'orm' | 'keys' | 'logger'>,
): THandler<'vault.credentials.store'> {
  return async (req) => {
    const now = new Date();
    const rows = sealCredentialRows(deps.keys, req, now);
    const knex = deps.orm.em.getConnection().getKnex();
    const write = async (trx: Knex.Transaction) => {
      await lockConnection(trx, req.connectionId);
      if (req.replace) await destroyLiveCredentials(trx, req, now);
      await trx('credential').withSchema(VAULT_DB_SCHEMA).insert(rows);
      return {
        credentialIds: rows.map((r) => r.id),
        orgId: req.orgId,
        connectionId: req.connectionId,
      };
    };
    const idempotencyKey = req.idempotencyKey;
    const { credentialIds } = await withSafeDbErrors(
      deps.logger,
      'storing credentials',
      async () =>
        idempotencyKey === undefined
          ? knex.transaction(write)
          : (
              await runVaultCommandOnce(
                knex,
                {
                  key: idempotencyKey,
                  subject: 'vault.credentials.store',
                  orgId: req.orgId,
                  connectionId: req.connectionId,
                },
                write,
              )
            ).result,
    );
    return { credentialIds };
  };
}
