import type { Knex } from '@mikro-orm/postgresql';
import { AppError } from '@otesse/contracts';
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

/**
 * Encrypts (outside the transaction: CPU only) and inserts; `replace` destroys the previous ones atomically.
 * CONFLICT `connection_closed` for a connection whose connect was abandoned (`integrations.connection.abandoned`).
 */
export function storeCredentialsHandler(
  deps: Pick<TVaultDeps, 'orm' | 'keys' | 'logger'>,
): THandler<'vault.credentials.store'> {
  return async (req) => {
    const now = new Date();
    const rows = sealCredentialRows(deps.keys, req, now);
    const knex = deps.orm.em.getConnection().getKnex();
    const write = async (trx: Knex.Transaction) => {
      await lockConnection(trx, req.connectionId);
      const closed = await trx('closed_connection')
        .withSchema(VAULT_DB_SCHEMA)
        .where({ connection_id: req.connectionId })
        .first('reason');
      if (closed) {
        // Its connect was abandoned (and what it held destroyed): nothing may be stored for it any more.
        throw new AppError('CONFLICT', 'this connection was abandoned: connect again', {
          reason: 'connection_closed',
        });
      }
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
