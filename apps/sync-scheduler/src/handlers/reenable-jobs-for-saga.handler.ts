import type { Knex } from '@mikro-orm/postgresql';
import { claimForwardKey, forwardKeyOf, runOnce } from '@otesse/persistence';
import type { THandler } from '@otesse/messaging';
import { SYNC_SCHEMA_NAME as S } from '../sync-job.rows';
import type { TSchedulerDeps } from './deps';

/**
 * The forward steps this command compensates, as the edge names them (apps/edge disconnect.saga.ts and
 * reconnect.saga.ts): the saga engine keys a step `<sagaId>:<step>` and its compensation `<sagaId>:<step>:compensate`.
 * Both steps send disable-for-connection: a disconnect's disable, a change of user's pause.
 */
const FORWARD_STEPS = ['disable-sync-jobs', 'pause-sync'] as const;
const FORWARD_SUBJECT = 'sync-scheduler.jobs.disable-for-connection';

/** disable-for-connection's reply when it did nothing: what a late forward command replays once settled. */
const NOTHING_DONE = {
  jobsDisabled: 0,
  jobIds: [],
  executionsCancelled: 0,
  cancelledExecutionIds: [],
  jobsPaused: 0,
};

/**
 * A compensation settles its forward command's key first, in its transaction: `insert … on conflict do nothing` of
 * `<sagaId>:<step>` with a result that did nothing. A forward command still in flight on another replica that
 * already holds that key, uncommitted (the pause claims it first; the disconnect's function stores it last, just
 * before its commit), makes this insert wait for it, so the lift below sees the jobs it disabled or paused and
 * clears them. One that arrives later, or is still waiting on a job's row lock (the disconnect's function, which
 * then fails on the key's primary key and runs again: runSqlCommandOnce), replays this empty result: no job is
 * disabled, held or paused for a saga that has ended. Other keys (resume-sync, after the swap: the pause answered
 * before it) settle nothing.
 */
async function settleForward(
  trx: Knex.Transaction,
  req: { sagaId: string; idempotencyKey: string },
): Promise<void> {
  const key = forwardKeyOf(req, FORWARD_STEPS);
  if (key === undefined) return;
  await claimForwardKey(trx, { schema: S, key, subject: FORWARD_SUBJECT, result: NOTHING_DONE });
}

/**
 * Compensation of disable-for-connection, once per idempotency key: re-enables exactly the jobs this saga disabled
 * (a job a user had disabled before carries no saga mark and stays off), clears the mark and lifts the saga's hold
 * on the connection's jobs. A job whose next run passed meanwhile is due at once. Also lifts a change of user's
 * pause (its step after the swap, or the pause's compensation). A compensation settles its forward command's key
 * first (settleForward).
 */
export function reenableJobsForSagaHandler(
  deps: Pick<TSchedulerDeps, 'orm' | 'engine'>,
): THandler<'sync-scheduler.jobs.reenable-for-saga'> {
  return async (req) => {
    const knex = deps.orm.em.getConnection().getKnex();
    const { result } = await knex.transaction((trx) =>
      runOnce(
        trx,
        { schema: S, key: req.idempotencyKey, subject: 'sync-scheduler.jobs.reenable-for-saga' },
        async () => {
          // Before the lift reads the jobs: a forward command holding the key is waited for, a later one is void.
          await settleForward(trx, req);
          const jobs = (
            await trx.raw(
              `update ${S}.sync_job
                  set is_enabled = true, disabled_by_saga_id = null, next_run_at = coalesce(next_run_at, now()),
                      updated_at = now()
                where org_id = ? and connection_id = ? and disabled_by_saga_id = ?
                returning id`,
              [req.orgId, req.connectionId, req.sagaId],
            )
          ).rows as { id: string }[];
          // The connection stays: users may enable its jobs again.
          await trx.raw(
            `delete from ${S}.connection_job_hold where org_id = ? and connection_id = ? and saga_id = ?`,
            [req.orgId, req.connectionId, req.sagaId],
          );
          // A change of user's pause (after its swap, or its compensation): the jobs may be claimed again, on
          // whatever token the vault hands out now; one whose slot passed meanwhile is due at once.
          const resumed = (
            await trx.raw(
              `update ${S}.sync_job set paused_by_saga_id = null, updated_at = now()
                where org_id = ? and connection_id = ? and paused_by_saga_id = ?
                returning id`,
              [req.orgId, req.connectionId, req.sagaId],
            )
          ).rows as { id: string }[];
          return { jobsReenabled: jobs.length, jobsResumed: resumed.length };
        },
      ),
    );
    if (result.jobsReenabled > 0 || (result.jobsResumed ?? 0) > 0) deps.engine.wake();
    return result;
  };
}
