import { AppError } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import { SYNC_SCHEMA_NAME as S, toSyncJob, type TSyncJobRow } from '../sync-job.rows';
import type { TSchedulerDeps } from './deps';

/**
 * "Run now": sets `run_requested_at` (kept if already set, so repeated clicks coalesce into one run) and wakes this
 * replica's engine; the claim clears it. The schedule is not moved.
 */
export function runJobNowHandler(
  deps: Pick<TSchedulerDeps, 'orm' | 'engine'>,
): THandler<'sync-scheduler.jobs.run-now'> {
  return async (req) => {
    const knex = deps.orm.em.getConnection().getKnex();
    const row = (
      await knex.raw(
        `update ${S}.sync_job
            set run_requested_at = coalesce(run_requested_at, now()), updated_at = now()
          where id = ? and org_id = ? and is_enabled
          returning *, exists (select 1 from ${S}.sync_execution e
                                where e.job_id = sync_job.id and e.status = 'running') as already_running`,
        [req.jobId, req.orgId],
      )
    ).rows[0] as (TSyncJobRow & { already_running: boolean }) | undefined;
    if (!row) {
      const exists = await knex('sync_job')
        .withSchema(S)
        .where({ id: req.jobId, org_id: req.orgId })
        .first('id');
      if (!exists) throw new AppError('NOT_FOUND', 'no such sync job', { reason: 'job_not_found' });
      throw new AppError('PRECONDITION_FAILED', 'the job is disabled: enable it first', {
        reason: 'job_disabled',
      });
    }
    deps.engine.wake();
    return { job: toSyncJob(row), alreadyRunning: row.already_running };
  };
}
