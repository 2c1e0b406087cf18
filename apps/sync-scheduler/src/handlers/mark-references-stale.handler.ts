import type { MikroORM } from '@mikro-orm/postgresql';
import { runSqlCommandOnce } from '@otesse/persistence';
import type { THandler } from '@otesse/messaging';
import type { StaleMarkMaterializer } from '../references/stale-marks';

const SUBJECT = 'sync-scheduler.references.mark-stale';

/**
 * Disconnect saga step 6, once per idempotency key: every `synced` reference of the instance (it becomes revoked),
 * or only those this connection synced last (other users keep the instance connected), is stale from now on —
 * kept, with `stale_since`. The step writes one stale mark (O(1), however many references) and answers how many
 * references it covers; the rows themselves are updated by the materializer right after, and any reader or sync
 * of the instance materializes first, so no one sees them `synced`. Records themselves are untouched.
 *
 * One round trip: the function `sync.mark_references_stale` (migration `disconnect_functions`) counts the scope's
 * references still synced (those a pending mark already covers are not counted twice), writes the mark and the key.
 * It materializes nothing: after a burst of disconnects an instance's pending marks may cover millions of rows.
 */
export function markReferencesStaleHandler(
  orm: MikroORM,
  materializer: Pick<StaleMarkMaterializer, 'trigger'>,
): THandler<typeof SUBJECT> {
  return async (req) => {
    const { result, replayed } = await runSqlCommandOnce<{ marked: number }>(
      orm.em.getConnection().getKnex(),
      {
        name: 'sync.mark_references_stale',
        text: 'select "sync".mark_references_stale($1, $2, $3, $4) as r',
        values: [
          req.idempotencyKey,
          req.orgId,
          req.instanceId,
          req.scope === 'connection' ? req.connectionId : null,
        ],
        subject: SUBJECT,
      },
    );
    if (!replayed) materializer.trigger();
    return result;
  };
}
