import type { THandler } from '@otesse/messaging';
import { runSqlCommandOnce } from '@otesse/persistence';
import { withSafeDbErrors } from '../credential-records';
import type { TVaultDeps } from './deps';

const SUBJECT = 'vault.credentials.destroy';

/**
 * Overwrites the connection's ciphertexts and wrapped data keys with '' and soft-deletes them — all of them, or
 * only `credentialIds` (the credentials a swap retired: the new ones stay intact) — once per idempotency key: a
 * replay (or a concurrent duplicate) answers the first count and changes nothing. One round trip: the function
 * `vault.destroy_credentials` (migration `destroy_function`) under the connection's advisory lock.
 */
export function destroyCredentialsHandler(
  deps: Pick<TVaultDeps, 'orm' | 'logger'>,
): THandler<typeof SUBJECT> {
  return async (req, ctx) => {
    const { result, replayed } = await withSafeDbErrors(deps.logger, 'destroying credentials', () =>
      runSqlCommandOnce<{ destroyed: number }>(deps.orm.em.getConnection().getKnex(), {
        name: 'vault.destroy_credentials',
        text: 'select "vault".destroy_credentials($1, $2, $3, $4) as r',
        values: [req.idempotencyKey, req.orgId, req.connectionId, req.credentialIds ?? null],
        subject: SUBJECT,
      }),
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
