import type { Knex } from '@mikro-orm/postgresql';
import { SCHEMA } from './connection.store';

/**
 * The reply a settled forward command replays: one of its contract that did nothing, bound to its org and connection
 * as runConnectionCommandOnce and the functions' store_reply store theirs.
 */
export async function fillSettledReply(
  trx: Knex.Transaction,
  key: string,
  bound: { orgId: string; connectionId: string },
  reply: unknown,
): Promise<void> {
  await trx('processed_command')
    .withSchema(SCHEMA)
    .where({ key })
    .update({
      result: JSON.stringify({ orgId: bound.orgId, connectionId: bound.connectionId, reply }),
    });
}
