import type { MikroORM } from '@mikro-orm/postgresql';
import type { THandler } from '@otesse/messaging';
import { SYNC_SCHEMA_NAME as S } from '../sync-job.rows';

/** One grouped count over the derived states (an index-only scan of `external_reference_scope_idx`). */
export function countReferencesHandler(orm: MikroORM): THandler<'sync-scheduler.references.count'> {
  return async (req) => {
    const rows = (await orm.em
      .getConnection()
      .getKnex()('external_reference_state')
      .withSchema(S)
      .where({ org_id: req.orgId, instance_id: req.instanceId })
      .groupBy('status')
      .select('status')
      .count({ n: '*' })) as { status: string; n: string | number }[];
    const by = new Map(rows.map((r) => [r.status, Number(r.n)]));
    return { synced: by.get('synced') ?? 0, stale: by.get('stale') ?? 0 };
  };
}
