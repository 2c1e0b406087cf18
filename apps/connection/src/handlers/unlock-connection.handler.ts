import type { MikroORM } from '@mikro-orm/postgresql';
import type { THandler } from '@otesse/messaging';
import { runConnectionCommandOnce } from '../store/command-once';
import { SCHEMA, loadConnection, loadInstance, lockConnection } from '../store/connection.store';
import { claimForwardKey, forwardKeyOf } from '@otesse/persistence';
import { fillSettledReply } from '../store/settle-forward';

/**
 * Compensation of `connection.connections.lock`: lifts the lock only when this saga holds it. Anything else (never
 * locked, already lifted or completed, another saga's lock, a disconnect) is left alone and answered as is: a
 * compensation must always succeed and must never undo someone else's work. Idempotent by key.
 *
 * As the lock step's compensation (`<sagaId>:lock:compensate`) it settles the lock's key `<sagaId>:lock` first, in
 * its transaction, with a reply that locked nothing: a lock in flight (it claims its key first, runOnce) is waited
 * for and lifted below; one that comes later replays that reply instead of locking for a saga that has ended.
 */
export function unlockConnectionHandler(orm: MikroORM): THandler<'connection.connections.unlock'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    const { reply } = await runConnectionCommandOnce(
      knex,
      {
        key: req.idempotencyKey,
        subject: 'connection.connections.unlock',
        orgId: req.orgId,
        connectionId: req.connectionId,
      },
      async (trx) => {
        // Before the row locks: a lock in flight holds its key and then waits for them.
        const forwardKey = forwardKeyOf(req, ['lock']);
        const settled =
          forwardKey !== undefined &&
          (await claimForwardKey(trx, {
            schema: SCHEMA,
            key: forwardKey,
            subject: 'connection.connections.lock',
          }));
        const { connection: c, instance } = await lockConnection(trx, req.orgId, req.connectionId);
        if (c.lock_saga_id === req.sagaId) {
          await trx('integration_connection').withSchema(SCHEMA).where({ id: c.id }).update({
            lock_saga_id: null,
            lock_purpose: null,
            locked_at: null,
            updated_at: trx.fn.now(),
          });
        }
        const connection = await loadConnection(trx, req.orgId, c.id);
        if (settled) {
          await fillSettledReply(trx, forwardKey, req, {
            connection,
            instance: await loadInstance(trx, req.orgId, instance.id),
          });
        }
        return { connection };
      },
    );
    return reply;
  };
}
