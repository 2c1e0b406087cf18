import type { Knex } from '@mikro-orm/postgresql';
import { AppError } from '@otesse/contracts';
import { runOnce } from '@otesse/persistence';
import { SCHEMA } from './connection.store';

/**
 * A saga command carried out at most once per idempotency key, deduped in the same transaction as its effect
 * (`runOnce`): a replay, or a concurrent duplicate (it waits on the claim's row lock), answers the first reply.
 * The key is bound to its org and connection: reusing it for another connection is CONFLICT
 * `idempotency_key_reused`, never a silent replay of someone else's reply. A command that fails with an
 * AppError rolls back with its claim, so a retry evaluates it again.
 */
export async function runConnectionCommandOnce<R>(
  knex: Knex,
  opts: { key: string; subject: string; orgId: string; connectionId: string },
  effect: (trx: Knex.Transaction) => Promise<R>,
): Promise<{ reply: R; replayed: boolean }> {
  const { result, replayed } = await knex.transaction((trx) =>
    runOnce(trx, { schema: SCHEMA, key: opts.key, subject: opts.subject }, async () => ({
      orgId: opts.orgId,
      connectionId: opts.connectionId,
      reply: await effect(trx),
    })),
  );
  if (result.orgId !== opts.orgId || result.connectionId !== opts.connectionId) {
    throw new AppError('CONFLICT', 'this idempotency key was already used for another command', {
      reason: 'idempotency_key_reused',
    });
  }
  return { reply: result.reply, replayed };
}
