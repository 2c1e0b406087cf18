import type { Knex } from '@mikro-orm/postgresql';
import { AppError } from '@otesse/contracts';
import { runOnce } from '@otesse/persistence';
import { SCHEMA } from './connection.store';

/** What a command's key is bound to: its org and the connection, or the instance, it acts on. */
export type TCommandBinding =
  { orgId: string; connectionId: string } | { orgId: string; instanceId: string };

/** The binding alone (a request carries more), as stored beside the reply. */
export function bindingOf(b: TCommandBinding): TCommandBinding {
  return 'connectionId' in b
    ? { orgId: b.orgId, connectionId: b.connectionId }
    : { orgId: b.orgId, instanceId: b.instanceId };
}

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
  return runBoundCommandOnce(knex, opts, effect);
}

/** runConnectionCommandOnce for a command on an instance: its key is bound to its org and that instance. */
export async function runInstanceCommandOnce<R>(
  knex: Knex,
  opts: { key: string; subject: string; orgId: string; instanceId: string },
  effect: (trx: Knex.Transaction) => Promise<R>,
): Promise<{ reply: R; replayed: boolean }> {
  return runBoundCommandOnce(knex, opts, effect);
}

async function runBoundCommandOnce<R>(
  knex: Knex,
  opts: { key: string; subject: string } & TCommandBinding,
  effect: (trx: Knex.Transaction) => Promise<R>,
): Promise<{ reply: R; replayed: boolean }> {
  const binding = bindingOf(opts);
  const { result, replayed } = await knex.transaction((trx) =>
    runOnce(
      trx,
      { schema: SCHEMA, key: opts.key, subject: opts.subject },
      async (): Promise<TCommandBinding & { reply: R }> => ({
        ...binding,
        reply: await effect(trx),
      }),
    ),
  );
  if (JSON.stringify(bindingOf(result)) !== JSON.stringify(binding)) {
    throw new AppError('CONFLICT', 'this idempotency key was already used for another command', {
      reason: 'idempotency_key_reused',
    });
  }
  return { reply: result.reply, replayed };
}
