import type { Knex } from '@mikro-orm/postgresql';

/** Sagas deleted per statement: a round holds its rows' locks briefly and writes a bounded WAL record set. */
const SAGAS_PER_ROUND = 500;

/**
 * Deletes the log of sagas that ended more than `retentionMs` ago (in the database's time), with their steps: only
 * `completed` or `compensated` sagas whose idempotency records the services have already released (a stopped
 * saga, `failed`, may still be resumed; an unreleased one still has records in the services that name it). Rounds
 * of 500 (`SKIP LOCKED`: edges share the work) until none is due. The audit trail keeps what each did, under its
 * saga id; only the operational log goes. Returns how many sagas were deleted.
 */
export async function purgeSagaHistory(
  knex: Knex,
  opts: {
    schema: string;
    retentionMs: number;
    /** Checked between rounds: a stopping edge ends after the round in progress. */
    stopped?: () => boolean;
  },
): Promise<number> {
  const s = `"${opts.schema.replace(/"/g, '""')}"`;
  let deleted = 0;
  for (;;) {
    const { rows } = await knex.raw<{ rows: { id: string }[] }>(
      `with due as (
         select id from ${s}.saga
          where records_released_at is not null and status in ('completed', 'compensated')
            and completed_at < now() - ? * interval '1 millisecond'
          order by completed_at limit ? for update skip locked),
       steps as (delete from ${s}.saga_step where saga_id in (select id from due))
       delete from ${s}.saga where id in (select id from due) returning id`,
      [opts.retentionMs, SAGAS_PER_ROUND],
    );
    deleted += rows.length;
    if (rows.length < SAGAS_PER_ROUND || opts.stopped?.()) return deleted;
  }
}
