import type { MikroORM } from '@mikro-orm/postgresql';
import type { THandler } from '@otesse/messaging';
import { runConnectionCommandOnce } from '../store/command-once';
import { SCHEMA, loadConnection, lockConnection } from '../store/connection.store';

/**
 * Compensation of begin-disconnect: lifts the lock only when this saga holds it, back to the status it left, and
 * the saga's hold on the instance (its last live connection).
 * Anything else (never locked, already lifted, another saga's lock, revoked) is left alone and answered as is:
 * a compensation must always succeed, and must never undo someone else's work.
 */
export function cancelDisconnectHandler(
  orm: MikroORM,
): THandler<'connection.connections.cancel-disconnect'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    const { reply } = await runConnectionCommandOnce(
      knex,
      {
        key: req.idempotencyKey,
        subject: 'connection.connections.cancel-disconnect',
        orgId: req.orgId,
        connectionId: req.connectionId,
      },
      async (trx) => {
        const { connection: c, instance } = await lockConnection(trx, req.orgId, req.connectionId);
        if (instance.revoking_saga_id === req.sagaId) {
          // The hold begin-disconnect took on the instance for its last live connection.
          await trx('integration_instance')
            .withSchema(SCHEMA)
            .where({ id: instance.id, revoking_saga_id: req.sagaId })
            .update({ revoking_saga_id: null });
        }
        if (c.status === 'disconnecting' && c.disconnect_saga_id === req.sagaId) {
          await trx('integration_connection')
            .withSchema(SCHEMA)
            .where({ id: c.id })
            .update({
              status: c.status_before_disconnect ?? 'connected',
              status_before_disconnect: null,
              disconnect_saga_id: null,
              updated_at: trx.fn.now(),
            });
        }
        return { connection: await loadConnection(trx, req.orgId, c.id) };
      },
    );
    return reply;
  };
}
