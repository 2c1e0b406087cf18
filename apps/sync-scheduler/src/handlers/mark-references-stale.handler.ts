import type { MikroORM } from '@mikro-orm/postgresql';
import { runOnce } from '@otesse/persistence';
import type { THandler } from '@otesse/messaging';
import { writeStaleMark, type StaleMarkMaterializer } from '../references/stale-marks';
import { SYNC_SCHEMA_NAME as S } from '../sync-job.rows';

/**
 * Disconnect saga step 6, once per idempotency key: every `synced` reference of the instance (it becomes revoked),
 * or only those this connection synced last (other users keep the instance connected), is stale from now on —
 * kept, with `stale_since`. The step writes one stale mark (O(1), however many references) and answers how many
 * references it covers; the rows themselves are updated by the materializer right after, and any reader or sync
 * of the instance materializes first, so no one sees them `synced`. Records themselves are untouched.
 */
export function markReferencesStaleHandler(
  orm: MikroORM,
  materializer: Pick<StaleMarkMaterializer, 'trigger'>,
): THandler<'sync-scheduler.references.mark-stale'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    const { result, replayed } = await knex.transaction((trx) =>
      runOnce(
        trx,
        { schema: S, key: req.idempotencyKey, subject: 'sync-scheduler.references.mark-stale' },
        async () => {
          const { references } = await writeStaleMark(trx, {
            orgId: req.orgId,
            instanceId: req.instanceId,
            connectionId: req.scope === 'connection' ? req.connectionId : null,
          });
          return { marked: references };
        },
      ),
    );
    if (!replayed) materializer.trigger();
    return result;
  };
}
