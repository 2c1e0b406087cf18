import type { Knex } from '@mikro-orm/postgresql';
import { SCHEMA } from './connection.store';
import { bindingOf, type TCommandBinding } from './command-once';

/**
 * The reply a settled forward command replays: one of its contract that did nothing, bound to its org and connection
 * (or instance) as runConnectionCommandOnce and the functions' store_reply store theirs.
 */
export async function fillSettledReply(
  trx: Knex.Transaction,
  key: string,
  bound: TCommandBinding,
  reply: unknown,
): Promise<void> {
  await trx('processed_command')
    .withSchema(SCHEMA)
    .where({ key })
    .update({ result: JSON.stringify({ ...bindingOf(bound), reply }) });
}
