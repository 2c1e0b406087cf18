import { EntitySchema } from '@mikro-orm/core';
import type { Knex } from '@mikro-orm/postgresql';
import { AppError, SAGA_IDEMPOTENCY_KEY_SQL_PREFIX } from '@otesse/contracts';

/** A command already carried out, by idempotency key (`sagaId:step`), with the result it returned. */
export interface ProcessedCommand {
  key: string;
  subject: string;
  result: unknown;
  createdAt: Date;
}

/** Every service that receives saga commands includes this entity: table `processed_command` in its own schema. */
export const ProcessedCommandSchema = new EntitySchema<ProcessedCommand>({
  name: 'ProcessedCommand',
  tableName: 'processed_command',
  indexes: [
    // The service's own purge looks only at keys that are not a saga's (the edge releases those): a small index,
    // which a saga command's insert does not touch.
    {
      name: 'processed_command_other_created_idx',
      expression: `create index "processed_command_other_created_idx" on "processed_command" ("created_at") where "key" !~ '${SAGA_IDEMPOTENCY_KEY_SQL_PREFIX}'`,
    },
  ],
  properties: {
    key: { type: 'string', length: 200, primary: true },
    subject: { type: 'string', length: 100 },
    result: { type: 'json', nullable: true },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});

/**
 * Runs `effect` at most once per key, inside `trx`: the key is claimed in the same transaction as the effect, so
 * a replay (or a concurrent duplicate, which waits on the claim's row lock) gets the first result back instead of
 * doing the work again. Returns `{ result, replayed }`.
 */
export async function runOnce<T>(
  trx: Knex.Transaction,
  opts: { schema: string; key: string; subject: string },
  effect: () => Promise<T>,
): Promise<{ result: T; replayed: boolean }> {
  const claimed = await trx('processed_command')
    .withSchema(opts.schema)
    .insert({ key: opts.key, subject: opts.subject, result: null, created_at: trx.fn.now() })
    .onConflict('key')
    .ignore()
    .returning('key');
  if (claimed.length === 0) {
    const row = (await trx('processed_command')
      .withSchema(opts.schema)
      .where({ key: opts.key })
      .first()) as { subject: string; result: T } | undefined;
    if (row && row.subject !== opts.subject) {
      throw new AppError(
        'CONFLICT',
        `idempotency key ${opts.key} was used for ${row.subject}, not ${opts.subject}`,
        {
          reason: 'idempotency_key_reused',
        },
      );
    }
    return { result: row?.result as T, replayed: true };
  }
  const result = await effect();
  await trx('processed_command')
    .withSchema(opts.schema)
    .where({ key: opts.key })
    .update({ result: JSON.stringify(result ?? null) });
  return { result, replayed: false };
}

/** Rows deleted per statement by the purge, so a large backlog never holds many row locks at once. */
const PURGE_BATCH = 5_000;
/** How long a service keeps a record whose key is not a saga's, by default. */
export const IDEMPOTENCY_RECORD_RETENTION_MS = 30 * 86_400_000;
/** How often a service purges them, by default. */
export const IDEMPOTENCY_PURGE_INTERVAL_MS = 3_600_000;

/**
 * Deletes the records of `keys` (saga keys the edge released: their saga ended and never sends again). Returns how
 * many existed.
 */
export async function forgetIdempotencyRecords(
  knex: Knex,
  schema: string,
  keys: readonly string[],
): Promise<number> {
  const res = await knex.raw<{ rowCount: number }>(
    `delete from ${schema}.processed_command where key = any(?::varchar[])`,
    [[...keys]],
  );
  return res.rowCount;
}

/**
 * Deletes the records older than `retentionMs` whose key is not a saga's: a connect's clean-up, a refusal's
 * discard, the vault's own discard sweep. Their senders retry within one request or one sweep, never for weeks.
 * A saga's keys stay until the edge releases them, however old. In the database's time, as they were dated.
 */
export async function purgeIdempotencyRecords(
  knex: Knex,
  schema: string,
  retentionMs: number,
): Promise<number> {
  let total = 0;
  for (;;) {
    const res = await knex.raw<{ rowCount: number }>(
      `delete from ${schema}.processed_command where ctid = any(array(
         select ctid from ${schema}.processed_command
          where created_at < now() - ? * interval '1 millisecond'
            and key !~ '${SAGA_IDEMPOTENCY_KEY_SQL_PREFIX}'
          limit ${PURGE_BATCH}))`,
      [retentionMs],
    );
    total += res.rowCount;
    if (res.rowCount < PURGE_BATCH) return total;
  }
}
