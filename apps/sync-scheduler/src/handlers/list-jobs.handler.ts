import type { MikroORM } from '@mikro-orm/postgresql';
import type { THandler } from '@otesse/messaging';
import { SYNC_SCHEMA_NAME as S, toSyncJob, type TSyncJobRow } from '../sync-job.rows';

/** Always scoped by org: an instance or connection id of another org matches nothing. */
export function listJobsHandler(orm: MikroORM): THandler<'sync-scheduler.jobs.list'> {
  return async (req) => {
    const q = orm.em.getConnection().getKnex()('sync_job').withSchema(S).where('org_id', req.orgId);
    if (req.instanceId) q.andWhere('instance_id', req.instanceId);
    if (req.connectionId) q.andWhere('connection_id', req.connectionId);
    const rows = (await q
      .orderBy([
        { column: 'instance_id' },
        { column: 'connection_id' },
        { column: 'resource' },
        { column: 'created_at' },
      ])
      .select('*')) as TSyncJobRow[];
    return { jobs: rows.map(toSyncJob) };
  };
}
