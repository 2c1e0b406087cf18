import type { MikroORM } from '@mikro-orm/postgresql';
import { runOnce } from '@otesse/persistence';
import type { THandler } from '@otesse/messaging';
import { SYNC_SCHEMA_NAME as S } from '../sync-job.rows';

/**
 * Disconnect saga step 6, one set-based UPDATE once per idempotency key: `synced` → `stale` (kept, with
 * `stale_since`) for every reference of the instance (it becomes revoked), or only those this connection synced last
 * (other users keep the instance connected). Records themselves are untouched: they belong to the org and instance.
 */
export function markReferencesStaleHandler(
  orm: MikroORM,
): THandler<'sync-scheduler.references.mark-stale'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    const { result } = await knex.transaction((trx) =>
      runOnce(
        trx,
        { schema: S, key: req.idempotencyKey, subject: 'sync-scheduler.references.mark-stale' },
        async () => {
          const byConnection = req.scope === 'connection' ? 'and connection_id = ?' : '';
          const r = await trx.raw(
            `update ${S}.external_reference set status = 'stale', stale_since = now()
              where org_id = ? and instance_id = ? ${byConnection} and status = 'synced'`,
            req.scope === 'connection'
              ? [req.orgId, req.instanceId, req.connectionId]
              : [req.orgId, req.instanceId],
          );
          return { marked: (r as { rowCount: number | null }).rowCount ?? 0 };
        },
      ),
    );
    return result;
  };
}
