import { AppError, isAppError } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import { publishCancelSignal } from '../engine/cancel-signal';
import { SYNC_SCHEMA_NAME as S, toSyncJob, type TSyncJobRow } from '../sync-job.rows';
import type { TSchedulerDeps } from './deps';

const notFound = () => new AppError('NOT_FOUND', 'no such sync job', { reason: 'job_not_found' });

/**
 * A user turns one job on or off. Off: its running execution is cancelled (as a disconnect does) and any saga mark is
 * cleared, so no compensation turns back on what a user turned off. On: only for a `connected` connection whose
 * refresh token is valid — a job that could only be skipped is refused up front — and never while a disconnect
 * holds the connection's jobs (PRECONDITION_FAILED `disabled_by_disconnect`), even one that began after the check.
 */
export function setJobEnabledHandler(
  deps: Pick<TSchedulerDeps, 'orm' | 'nc' | 'bus' | 'engine'>,
): THandler<'sync-scheduler.jobs.set-enabled'> {
  return async (req) => {
    const knex = deps.orm.em.getConnection().getKnex();
    const current = (await knex('sync_job')
      .withSchema(S)
      .where({ id: req.jobId, org_id: req.orgId })
      .first()) as TSyncJobRow | undefined;
    if (!current) throw notFound();
    if (req.enabled && !current.is_enabled) {
      let ok = false;
      try {
        const { connection } = await deps.bus.request(
          'connection.connections.get',
          { orgId: req.orgId, connectionId: current.connection_id },
          { ctx: { orgId: req.orgId } },
        );
        ok = connection.status === 'connected' && !connection.refreshTokenExpired;
      } catch (e) {
        if (!isAppError(e) || e.code !== 'NOT_FOUND') throw e;
      }
      if (!ok) {
        throw new AppError(
          'PRECONDITION_FAILED',
          'the connection of this job is not connected: reconnect it first',
          { reason: 'connection_not_connected' },
        );
      }
    }
    const out = await knex.transaction(async (trx) => {
      if (req.enabled) {
        // The connection check above is not in this transaction: a disconnect's disable step may have run since.
        // It holds the connection's jobs under their row locks (migration `disconnect_job_hold`), so once this
        // job's lock is ours either that step has committed (and the next statement's snapshot sees its hold) or
        // it waits for this commit and then disables the job with the others. Two statements: a row lock waited
        // for re-reads the locked row only, never a joined one.
        const locked = (
          await trx.raw(
            `select connection_id from ${S}.sync_job where id = ? and org_id = ? for update`,
            [req.jobId, req.orgId],
          )
        ).rows[0] as { connection_id: string } | undefined;
        if (!locked) throw notFound();
        const held =
          (
            await trx.raw(
              `select 1 from ${S}.connection_job_hold where connection_id = ? and org_id = ?`,
              [locked.connection_id, req.orgId],
            )
          ).rows.length > 0;
        if (held) {
          throw new AppError(
            'PRECONDITION_FAILED',
            'a disconnect of this job’s connection disabled its jobs: reconnect, then enable it',
            { reason: 'disabled_by_disconnect' },
          );
        }
        if (locked.connection_id !== current.connection_id) {
          // A reconnection took the job over since the check: that one checked another connection.
          throw new AppError(
            'PRECONDITION_FAILED',
            'the job moved to another connection meanwhile: try again',
            { reason: 'connection_changed' },
          );
        }
      }
      const job = (
        await trx.raw(
          req.enabled
            ? `update ${S}.sync_job
                  set is_enabled = true, disabled_by_saga_id = null, next_run_at = coalesce(next_run_at, now()),
                      updated_at = now()
                where id = ? and org_id = ? and not is_enabled returning *`
            : `update ${S}.sync_job
                  set is_enabled = false, disabled_by_saga_id = null, run_requested_at = null, updated_at = now()
                where id = ? and org_id = ? and is_enabled returning *`,
          [req.jobId, req.orgId],
        )
      ).rows[0] as TSyncJobRow | undefined;
      if (!job) {
        const unchanged = (await trx('sync_job')
          .withSchema(S)
          .where({ id: req.jobId, org_id: req.orgId })
          .first()) as TSyncJobRow | undefined;
        if (!unchanged) throw notFound();
        return { job: unchanged, changed: false, cancelled: [] as string[] };
      }
      const cancelled = req.enabled
        ? []
        : (
            (
              await trx.raw(
                `update ${S}.sync_execution
                  set status = 'cancelled', completed_at = now(), cancel_requested_at = now(), updated_at = now(),
                      error_reason = 'job_disabled', error = 'cancelled: the job was disabled'
                where job_id = ? and status = 'running' returning id`,
                [req.jobId],
              )
            ).rows as { id: string }[]
          ).map((r) => r.id);
      return { job, changed: true, cancelled };
    });
    if (out.cancelled.length > 0) publishCancelSignal(deps.nc, out.cancelled);
    if (req.enabled && out.changed) deps.engine.wake();
    return {
      job: toSyncJob(out.job),
      changed: out.changed,
      executionsCancelled: out.cancelled.length,
    };
  };
}
