import type { MikroORM } from '@mikro-orm/postgresql';
import type { THandler } from '@otesse/messaging';
import { SYNC_SCHEMA_NAME as S } from '../sync-job.rows';

/** The disconnect preview: how many jobs a disconnect would disable and executions it would cancel. */
export function summarizeConnectionHandler(
  orm: MikroORM,
): THandler<'sync-scheduler.connections.summary'> {
  return async (req) => {
    const row = (
      await orm.em
        .getConnection()
        .getKnex()
        .raw(
          `select (select count(*) from ${S}.sync_job where org_id = ? and connection_id = ?) as jobs,
                (select count(*) from ${S}.sync_job
                  where org_id = ? and connection_id = ? and is_enabled) as enabled_jobs,
                (select count(*) from ${S}.sync_execution
                  where org_id = ? and connection_id = ? and status = 'running') as running`,
          [req.orgId, req.connectionId, req.orgId, req.connectionId, req.orgId, req.connectionId],
        )
    ).rows[0] as { jobs: string; enabled_jobs: string; running: string };
    return {
      jobs: Number(row.jobs),
      enabledJobs: Number(row.enabled_jobs),
      runningExecutions: Number(row.running),
    };
  };
}
