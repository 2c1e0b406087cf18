import type { Knex, MikroORM } from '@mikro-orm/postgresql';
import { AppError, type TRequestOf, type TReplyOf } from '@otesse/contracts';
import { runOnce } from '@otesse/persistence';
import type { THandler } from '@otesse/messaging';
import { SYNC_SCHEMA_NAME as S } from '../sync-job.rows';

const SUBJECT = 'sync-scheduler.instances.erase-data';

/**
 * Unlink saga step 2, the pivot, once per idempotency key: the instance's synced records and external references
 * are deleted, with its stale marks and restores, in one transaction that also claims the key (runOnce: a replay
 * answers the first result, a key first used for another subject is CONFLICT `idempotency_key_reused`). Set-based
 * deletes; the statement triggers move `record_tally` and `reference_tally` to zero in the same transaction. Sync
 * jobs, field mappings, executions and `connection_lineage` are kept.
 *
 * An execution of the instance still running is CONFLICT `sync_running`: the transaction rolls back whole, the key
 * too, so the saga compensates and a retry under the same key tries again. Nothing can land after the erase: the
 * instance's job rows are locked first (`for update`), which every way to a running execution passes through —
 * a claim locks the job row before it inserts its execution (`skip locked`: it skips these jobs until we commit),
 * and one that locked a job first has committed its execution by the time our lock is granted, which the check
 * (its own statement, so its own snapshot) then sees. Batches (write-batch.ts) and a success's restore
 * (run-execution.ts) commit only while their execution is `running` under its lease, and none is.
 */
export function eraseInstanceDataHandler(orm: MikroORM): THandler<typeof SUBJECT> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    const { result } = await knex.transaction((trx) =>
      runOnce(trx, { schema: S, key: req.idempotencyKey, subject: SUBJECT }, () =>
        eraseInstanceData(trx, req),
      ),
    );
    return result;
  };
}

async function eraseInstanceData(
  trx: Knex.Transaction,
  req: TRequestOf<typeof SUBJECT>,
): Promise<TReplyOf<typeof SUBJECT>> {
  const scope = [req.orgId, req.instanceId];
  // In id order, as the other writers of several jobs take them. Not in the check's statement: a statement that
  // waited for a row lock keeps the snapshot it started with, and would miss the execution a claim just committed.
  await trx.raw(
    `select id from ${S}.sync_job where org_id = ? and instance_id = ? order by id for update`,
    scope,
  );
  const { running } = (
    await trx.raw(
      `select exists (
         select 1 from ${S}.sync_execution e join ${S}.sync_job j on j.id = e.job_id
          where j.org_id = ? and j.instance_id = ? and e.status = 'running') as running`,
      scope,
    )
  ).rows[0] as { running: boolean };
  if (running) {
    throw new AppError(
      'CONFLICT',
      'a sync of this instance is still running: nothing was erased, try again once it ended',
      { reason: 'sync_running' },
    );
  }
  const deleteFrom = async (table: string): Promise<number> =>
    (
      (await trx.raw(`delete from ${S}.${table} where org_id = ? and instance_id = ?`, scope)) as {
        rowCount: number;
      }
    ).rowCount;
  const referencesErased = await deleteFrom('external_reference');
  const recordsErased = await deleteFrom('synced_record');
  await deleteFrom('reference_stale_mark');
  await deleteFrom('reference_restore');
  return { recordsErased, referencesErased };
}
