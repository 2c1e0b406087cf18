import type { Knex } from '@mikro-orm/postgresql';
import type { TRequestOf } from '@otesse/contracts';
import { runOnce, runSqlCommandOnce } from '@otesse/persistence';
import type { THandler } from '@otesse/messaging';
import { publishCancelSignal } from '../engine/cancel-signal';
import { SYNC_SCHEMA_NAME as S } from '../sync-job.rows';
import type { TSchedulerDeps } from './deps';

const SUBJECT = 'sync-scheduler.jobs.disable-for-connection';

interface TStored {
  jobsDisabled: number;
  jobIds: string[];
  executionsCancelled: number;
  cancelledExecutionIds: string[];
  jobsPaused?: number;
}

/**
 * Disconnect saga step 2, once per idempotency key: the connection's enabled jobs are disabled and stamped with
 * the saga (so its compensation re-enables exactly these), and its running executions end `cancelled` with
 * `completedAt` — in one transaction, one round trip (the function `sync.disable_jobs_for_connection`, migration
 * `disconnect_job_hold`). The connection's jobs stay held (`connection_job_hold`) until the compensation or a
 * reconnection's adoption: a user's enable already past its connection check cannot turn one back on. Then every replica is told over NATS so the runner stops after the batch it is
 * writing (it keeps what it committed). A replay answers the first result and signals again (a lost signal is
 * harmless: the runner's next batch sees the row).
 *
 * `purpose: 'changeUser'`: the change of user's pause before its swap (pauseForChangeUser), signalled the same way.
 * Its key is claimed before the pause, in the pause's transaction (runOnce): a key the pause's compensation settled
 * first (reenable-jobs-for-saga.handler.ts) makes a late copy a replay that pauses nothing, and a compensation that
 * comes while this transaction is open waits for it on the key. A disconnect's step clears any pause mark.
 */
export function disableJobsForConnectionHandler(
  deps: Pick<TSchedulerDeps, 'orm' | 'nc'>,
): THandler<typeof SUBJECT> {
  return async (req) => {
    const knex = deps.orm.em.getConnection().getKnex();
    const { result } =
      req.purpose === 'changeUser'
        ? await knex.transaction((trx) =>
            runOnce(trx, { schema: S, key: req.idempotencyKey, subject: SUBJECT }, () =>
              pauseForChangeUser(trx, req),
            ),
          )
        : await runSqlCommandOnce<TStored>(knex, {
            name: 'sync.disable_jobs_for_connection',
            text: 'select "sync".disable_jobs_for_connection($1, $2, $3, $4) as r',
            values: [req.idempotencyKey, req.orgId, req.connectionId, req.sagaId],
            subject: SUBJECT,
          });
    if (result.cancelledExecutionIds.length > 0) {
      publishCancelSignal(deps.nc, result.cancelledExecutionIds);
    }
    return {
      jobsDisabled: result.jobsDisabled,
      jobIds: result.jobIds,
      executionsCancelled: result.executionsCancelled,
      jobsPaused: result.jobsPaused ?? 0,
    };
  };
}

/**
 * The change of user's pause: every job of the connection is stamped paused for the saga under its row lock (the
 * claims skip it from then on: a claim that locked it first has committed its execution by the time the update
 * below reads the executions, and one that comes after re-checks the stamp on the updated row), then the running
 * executions are cancelled as a disconnect's are. Jobs keep `isEnabled`: a user's choice is not touched.
 */
async function pauseForChangeUser(
  trx: Knex.Transaction,
  req: TRequestOf<typeof SUBJECT>,
): Promise<TStored> {
  const paused = (
    await trx.raw(
      `with locked as (
         select id from ${S}.sync_job where org_id = ? and connection_id = ? order by id for update
       )
       update ${S}.sync_job j set paused_by_saga_id = ?, updated_at = now()
         from locked where j.id = locked.id
       returning j.id`,
      [req.orgId, req.connectionId, req.sagaId],
    )
  ).rows as { id: string }[];
  const cancelled = (
    await trx.raw(
      `update ${S}.sync_execution
          set status = 'cancelled', completed_at = now(), cancel_requested_at = now(), updated_at = now(),
              error_reason = 'user_changed', error = 'cancelled: the connection''s user is being changed'
        where org_id = ? and connection_id = ? and status = 'running'
       returning id`,
      [req.orgId, req.connectionId],
    )
  ).rows as { id: string }[];
  return {
    jobsDisabled: 0,
    jobIds: [],
    executionsCancelled: cancelled.length,
    cancelledExecutionIds: cancelled.map((e) => e.id),
    jobsPaused: paused.length,
  };
}
