import { EntitySchema } from '@mikro-orm/core';
import type { Knex } from '@mikro-orm/postgresql';
import { AppError } from '@otesse/contracts';

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
    .insert({ key: opts.key, subject: opts.subject, result: null, created_at: new Date() })
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
