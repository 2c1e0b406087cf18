import type { Knex } from '@mikro-orm/postgresql';
import { SYNC_SCHEMA_NAME as S } from '../sync-job.rows';

/** How long an ended execution is kept unless told (SYNC_EXECUTION_RETENTION_DAYS). */
export const SYNC_EXECUTION_RETENTION_DAYS = 90;
/** How often a replica deletes what is past the retention (SYNC_EXECUTION_PURGE_INTERVAL_MS). */
export const SYNC_EXECUTION_PURGE_INTERVAL_MS = 3_600_000;
/** Executions deleted per statement: short transactions beside the runners' writes. */
const BATCH = 5_000;

/**
 * Deletes ended executions that finished more than `retentionDays` ago, except each job's newest (the panel's "last
 * run"), a batch at a time until none is left or the task stops. A job runs every interval for as long as it exists,
 * so its history grows without end otherwise. The counts stay (execution_tally keeps the deleted ones); synced
 * records and references do not point at executions. Replicas may run it at once: a row two of them pick is deleted
 * once, and the other's batch is smaller.
 */
export async function purgeOldExecutions(
  knex: Knex,
  retentionDays: number,
  task: { readonly stopped: boolean } = { stopped: false },
): Promise<number> {
  let deleted = 0;
  for (;;) {
    const { rowCount } = (await knex.raw(
      `delete from ??.sync_execution e
        where e.id in (
          select x.id from ??.sync_execution x
           where x.status <> 'running' and x.completed_at < now() - make_interval(days => ?)
             and exists (select 1 from ??.sync_execution n
                          where n.job_id = x.job_id and (n.started_at, n.id) > (x.started_at, x.id))
           order by x.completed_at
           limit ?)`,
      [S, S, retentionDays, S, BATCH],
    )) as { rowCount: number | null };
    deleted += rowCount ?? 0;
    if ((rowCount ?? 0) < BATCH || task.stopped) return deleted;
  }
}
