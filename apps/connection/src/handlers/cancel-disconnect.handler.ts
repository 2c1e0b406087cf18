import type { MikroORM } from '@mikro-orm/postgresql';
import type { THandler } from '@otesse/messaging';
import { runConnectionCommandOnce } from '../store/command-once';
import { SCHEMA, loadConnection, loadInstance, lockConnection } from '../store/connection.store';
import { claimForwardKey, forwardKeyOf } from '@otesse/persistence';
import { fillSettledReply } from '../store/settle-forward';

/**
 * Compensation of begin-disconnect: lifts the lock only when this saga holds it, back to the status it left, and
 * the saga's hold on the instance (its last live connection).
 * Anything else (never locked, already lifted, another saga's lock, revoked) is left alone and answered as is:
 * a compensation must always succeed, and must never undo someone else's work.
 *
 * As the lock step's compensation (`<sagaId>:lock:compensate`) it also settles the lock's key `<sagaId>:lock` with
 * a reply that locked nothing, so a begin-disconnect still on its way (a request queued for a pool's connection, a
 * copy the saga's timed-out attempts left on the wire) replays it instead of leaving the connection `disconnecting`
 * and the instance held for a saga that has ended.
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
        // Settled under the row locks, not before them: begin_disconnect stores its key last, holding the
        // connection's row lock, so no begin holds the key uncommitted now (one that did has committed, and is
        // undone below); one that comes later, or waits on these locks, fails on the key and replays the reply
        // filled in below (runSqlCommandOnce). Taking the key first could deadlock with such a begin.
        const forwardKey = forwardKeyOf(req, ['lock']);
        const settled =
          forwardKey !== undefined &&
          (await claimForwardKey(trx, {
            schema: SCHEMA,
            key: forwardKey,
            subject: 'connection.connections.begin-disconnect',
          }));
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
        const connection = await loadConnection(trx, req.orgId, c.id);
        if (settled) {
          await fillSettledReply(trx, forwardKey, req, {
            connection,
            instance: await loadInstance(trx, req.orgId, instance.id),
            instanceRevoking: false,
          });
        }
        return { connection };
      },
    );
    return reply;
  };
}
