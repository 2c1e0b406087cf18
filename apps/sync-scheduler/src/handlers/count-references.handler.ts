import type { MikroORM } from '@mikro-orm/postgresql';
import type { THandler } from '@otesse/messaging';
import { materializeStaleMarks } from '../references/stale-marks';
import { SYNC_SCHEMA_NAME as S } from '../sync-job.rows';

/** One grouped count over `external_reference_instance_status_idx`. */
export function countReferencesHandler(orm: MikroORM): THandler<'sync-scheduler.references.count'> {
  return async (req) => {
    // A disconnect's pending stale mark is applied first: a stale reference never reads as synced.
    await materializeStaleMarks(orm.em.getConnection().getKnex(), {
      instanceId: req.instanceId,
      wait: true,
    });
    const rows = (await orm.em
      .getConnection()
      .getKnex()('external_reference')
      .withSchema(S)
      .where({ org_id: req.orgId, instance_id: req.instanceId })
      .groupBy('status')
      .select('status')
      .count({ n: '*' })) as { status: string; n: string | number }[];
    const by = new Map(rows.map((r) => [r.status, Number(r.n)]));
    return { synced: by.get('synced') ?? 0, stale: by.get('stale') ?? 0 };
  };
}
