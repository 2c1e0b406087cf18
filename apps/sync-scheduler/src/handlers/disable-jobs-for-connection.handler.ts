import { runOnce } from '@otesse/persistence';
import type { THandler } from '@otesse/messaging';
import { publishCancelSignal } from '../engine/cancel-signal';
import { SYNC_SCHEMA_NAME as S } from '../sync-job.rows';
import type { TSchedulerDeps } from './deps';

interface TStored {
  jobsDisabled: number;
  jobIds: string[];
  executionsCancelled: number;
  cancelledExecutionIds: string[];
}

/**
 * Disconnect saga step 2, once per idempotency key: the connection's enabled jobs are disabled and stamped with
 * the saga (so its compensation re-enables exactly these), and its running executions end `cancelled` with
 * `completedAt` — in one transaction. Then every replica is told over NATS so the runner stops after the batch it is
 * writing (it keeps what it committed). A replay answers the first result and signals again (a lost signal is
 * harmless: the runner's next batch sees the row).
 */
export function disableJobsForConnectionHandler(
  deps: Pick<TSchedulerDeps, 'orm' | 'nc'>,
): THandler<'sync-scheduler.jobs.disable-for-connection'> {
  return async (req) => {
    const knex = deps.orm.em.getConnection().getKnex();
    const { result } = await knex.transaction((trx) =>
      runOnce<TStored>(
        trx,
        {
          schema: S,
          key: req.idempotencyKey,
          subject: 'sync-scheduler.jobs.disable-for-connection',
        },
        async () => {
          // Jobs first: a claim holding a job's lock commits its execution before this update proceeds, so the
          // execution update below sees (and cancels) it.
          const jobs = (
            await trx.raw(
              `update ${S}.sync_job
                  set is_enabled = false, disabled_by_saga_id = ?, run_requested_at = null, updated_at = now()
                where org_id = ? and connection_id = ? and is_enabled
                returning id`,
              [req.sagaId, req.orgId, req.connectionId],
            )
          ).rows as { id: string }[];
          const executions = (
            await trx.raw(
              `update ${S}.sync_execution
                  set status = 'cancelled', completed_at = now(), cancel_requested_at = now(), updated_at = now(),
                      error_reason = 'disconnect', error = 'cancelled: the connection is being disconnected'
                where org_id = ? and connection_id = ? and status = 'running'
                returning id`,
              [req.orgId, req.connectionId],
            )
          ).rows as { id: string }[];
          const jobIds = jobs.map((j) => j.id).sort();
          return {
            jobsDisabled: jobIds.length,
            jobIds,
            executionsCancelled: executions.length,
            cancelledExecutionIds: executions.map((e) => e.id),
          };
        },
      ),
    );
    if (result.cancelledExecutionIds.length > 0) {
      publishCancelSignal(deps.nc, result.cancelledExecutionIds);
    }
    return {
      jobsDisabled: result.jobsDisabled,
      jobIds: result.jobIds,
      executionsCancelled: result.executionsCancelled,
    };
  };
}
