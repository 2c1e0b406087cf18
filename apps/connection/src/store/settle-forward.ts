import type { Knex } from '@mikro-orm/postgresql';
import { SCHEMA } from './connection.store';

/**
 * A compensation's forward command, by the keys the saga engine gives them (libs/saga saga-engine.ts): a step is sent
 * under `<sagaId>:<step>` and its compensation under `<sagaId>:<step>:compensate`. Undefined for any other key (a
 * compensation sent by hand, a test's): nothing to settle.
 */
export function forwardKeyOf(
  req: { sagaId: string; idempotencyKey: string },
  step: string,
): string | undefined {
  return req.idempotencyKey === `${req.sagaId}:${step}:compensate`
    ? `${req.sagaId}:${step}`
    : undefined;
}

/**
 * Takes the forward command's key in the compensation's transaction, its reply still to come (fillSettledReply, in
 * the same transaction: nobody reads it before the commit). False when the forward command had it: it committed
 * (this insert waited for it if it was in flight), so the compensation sees and undoes what it did. Taken here, a
 * forward command that comes later replays the reply filled in instead of acting for a saga that has ended.
 */
export async function claimForwardKey(
  trx: Knex.Transaction,
  key: string,
  subject: string,
): Promise<boolean> {
  const claimed = await trx('processed_command')
    .withSchema(SCHEMA)
    .insert({ key, subject, result: null, created_at: trx.fn.now() })
    .onConflict('key')
    .ignore()
    .returning('key');
  return claimed.length > 0;
}

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
