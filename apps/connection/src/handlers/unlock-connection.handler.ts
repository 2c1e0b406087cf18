import type { MikroORM } from '@mikro-orm/postgresql';
import type { THandler } from '@otesse/messaging';
import { runConnectionCommandOnce } from '../store/command-once';
import { SCHEMA, loadConnection, lockConnection } from '../store/connection.store';

/**
 * Compensation of `connection.connections.lock`: lifts the lock only when this saga holds it. Anything else (never
 * locked, already lifted or completed, another saga's lock, a disconnect) is left alone and answered as is: a
 * compensation must always succeed and must never undo someone else's work. Idempotent by key.
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
        const { connection: c } = await lockConnection(trx, req.orgId, req.connectionId);
        if (c.lock_saga_id === req.sagaId) {
          await trx('integration_connection').withSchema(SCHEMA).where({ id: c.id }).update({
            lock_saga_id: null,
            lock_purpose: null,
            locked_at: null,
            updated_at: trx.fn.now(),
          });
        }
        return { connection: await loadConnection(trx, req.orgId, c.id) };
      },
    );
    return reply;
  };
}
