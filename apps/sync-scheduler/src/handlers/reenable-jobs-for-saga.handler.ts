import type { Knex } from '@mikro-orm/postgresql';
import { runOnce } from '@otesse/persistence';
import type { THandler } from '@otesse/messaging';
import { SYNC_SCHEMA_NAME as S } from '../sync-job.rows';
import type { TSchedulerDeps } from './deps';

/** The change-user saga's pause step (apps/edge reconnect.saga.ts): its key is `<sagaId>:pause-sync`. */
const PAUSE_STEP = 'pause-sync';
const PAUSE_SUBJECT = 'sync-scheduler.jobs.disable-for-connection';

/**
 * The pause's compensation settles the pause's own key first, in its transaction: `insert … on conflict do nothing`
 * of `<sagaId>:pause-sync` with a result that paused nothing. A pause still in flight on another replica (its
 * transaction holds that key, uncommitted: waiting on a job's row lock, a slow commit) makes this insert wait for it,
 * so the lift below sees the jobs it paused and clears them; a pause that arrives later (a copy the saga's timed-out
 * attempts left on the wire) finds the key taken and replays this empty result (disable-jobs-for-connection.handler.ts
 * claims the key in the transaction of its effect): no job is stamped with a saga that has ended.
 */
async function settlePause(trx: Knex.Transaction, sagaId: string): Promise<void> {
  await trx('processed_command')
    .withSchema(S)
    .insert({
      key: `${sagaId}:${PAUSE_STEP}`,
      subject: PAUSE_SUBJECT,
      result: JSON.stringify({
        jobsDisabled: 0,
        jobIds: [],
        executionsCancelled: 0,
        cancelledExecutionIds: [],
        jobsPaused: 0,
      }),
      created_at: trx.fn.now(),
    })
    .onConflict('key')
    .ignore();
}

/**
 * Compensation of disable-for-connection, once per idempotency key: re-enables exactly the jobs this saga disabled
 * (a job a user had disabled before carries no saga mark and stays off), clears the mark and lifts the saga's hold
 * on the connection's jobs. A job whose next run passed meanwhile is due at once. Also lifts a change of user's
 * pause (its step after the swap, or the pause's compensation: which settles the pause's key first, settlePause).
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
          // Only the pause's compensation (the key the saga engine gives it): the step after the swap runs once the
          // pause answered, so the pause's key is settled already; a disconnect's compensation has no pause.
          if (req.idempotencyKey === `${req.sagaId}:${PAUSE_STEP}:compensate`) {
            await settlePause(trx, req.sagaId);
          }
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
