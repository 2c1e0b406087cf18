import type { Knex } from '@mikro-orm/postgresql';

/**
 * The forward command's key of a saga compensation, by the keys the saga engine gives them (libs/saga): a step is
 * sent under `<sagaId>:<step>` and its compensation under `<sagaId>:<step>:compensate`. Undefined when `req`'s key is
 * not the compensation of one of `steps` (a compensation sent by hand, a test's, a later step's): nothing to settle.
 */
export function forwardKeyOf(
  req: { sagaId: string; idempotencyKey: string },
  steps: readonly string[],
): string | undefined {
  const step = steps.find((s) => req.idempotencyKey === `${req.sagaId}:${s}:compensate`);
  return step === undefined ? undefined : `${req.sagaId}:${step}`;
}

/**
 * Settles a compensation's forward command in the compensation's transaction: takes its key in the service's
 * `processed_command` (`insert … on conflict do nothing`), with `result` — the reply of a forward command that did
 * nothing — or none yet (filled in later in the same transaction: nobody reads it before the commit). A forward
 * command in flight that holds the key, uncommitted, makes the insert wait for it. False when the forward command
 * had the key: it committed, so the compensation sees and undoes what it did. Taken here, a forward command that
 * comes later replays the settled reply instead of acting for a saga that has ended.
 */
export async function claimForwardKey(
  trx: Knex.Transaction,
  o: { schema: string; key: string; subject: string; result?: unknown },
): Promise<boolean> {
  const claimed = await trx('processed_command')
    .withSchema(o.schema)
    .insert({
      key: o.key,
      subject: o.subject,
      result: o.result === undefined ? null : JSON.stringify(o.result),
      created_at: trx.fn.now(),
    })
    .onConflict('key')
    .ignore()
    .returning('key');
  return claimed.length > 0;
}
