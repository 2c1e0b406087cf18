import type { MikroORM } from '@mikro-orm/postgresql';
import { runSqlCommandOnce } from '@otesse/persistence';
import type { THandler } from '@otesse/messaging';

const SUBJECT = 'sync-scheduler.references.mark-stale';

/**
 * Disconnect saga step 6, once per idempotency key: every `synced` reference of the instance (it becomes revoked),
 * or only those this connection — or an earlier connection of its slot — synced last (other users keep the
 * instance connected), is stale from now on —
 * kept, with `stale_since`. The step writes one stale mark, O(1) however many references the scope holds: a
 * reference's state is derived from the marks (view `sync.external_reference_state`), so every reader sees the
 * references stale the moment this commits. Records themselves are untouched.
 *
 * One round trip: the function `sync.mark_references_stale` (migration `connection_scoped_restore`) counts the scope's
 * references still synced (those an earlier mark made stale are not counted again), writes the mark and the key.
 */
export function markReferencesStaleHandler(orm: MikroORM): THandler<typeof SUBJECT> {
  return async (req) => {
    const { result } = await runSqlCommandOnce<{ marked: number }>(
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
    return result;
  };
}
