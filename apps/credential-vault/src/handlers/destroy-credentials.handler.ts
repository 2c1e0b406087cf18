import type { THandler } from '@otesse/messaging';
import {
  destroyLiveCredentials,
  lockConnection,
  runVaultCommandOnce,
  withSafeDbErrors,
} from '../credential-records';
import type { TVaultDeps } from './deps';

/**
 * Overwrites the connection's ciphertexts and wrapped data keys with '' and soft-deletes them — all of them, or
 * only `credentialIds` (the credentials a swap retired: the new ones stay intact) — once per idempotency key: a
 * replay (or a concurrent duplicate) answers the first count and changes nothing.
 */
export function destroyCredentialsHandler(
  deps: Pick<TVaultDeps, 'orm' | 'logger'>,
): THandler<'vault.credentials.destroy'> {
  return async (req, ctx) => {
    const knex = deps.orm.em.getConnection().getKnex();
    const { result, replayed } = await withSafeDbErrors(deps.logger, 'destroying credentials', () =>
      runVaultCommandOnce(
        knex,
        {
          key: req.idempotencyKey,
          subject: 'vault.credentials.destroy',
          orgId: req.orgId,
          connectionId: req.connectionId,
        },
        async (trx) => {
          await lockConnection(trx, req.connectionId);
          const destroyed = await destroyLiveCredentials(trx, req, new Date());
          return { destroyed, orgId: req.orgId, connectionId: req.connectionId };
        },
      ),
    );
    if (!replayed) {
      deps.logger.info(
        {
          orgId: req.orgId,
          connectionId: req.connectionId,
          destroyed: result.destroyed,
          traceId: ctx.traceId,
        },
        'credentials destroyed',
      );
    }
    return { destroyed: result.destroyed };
  };
}
