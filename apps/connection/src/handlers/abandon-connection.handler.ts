import type { MikroORM } from '@mikro-orm/postgresql';
import { AppError } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import { SCHEMA, liveConnections, loadConnection, lockConnection } from '../store/connection.store';

/**
 * A connect that failed half-way: the pending connection ends `error`. When the instance was only pending for
 * this connect (no other live connection), it goes back to what it was before (revoked or error).
 */
export function abandonConnectionHandler(
  orm: MikroORM,
): THandler<'connection.connections.abandon'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    return knex.transaction(async (trx) => {
      const { connection, instance } = await lockConnection(trx, req.orgId, req.connectionId);
      if (connection.status === 'error') {
        return { connection: await loadConnection(trx, req.orgId, connection.id) };
      }
      if (connection.status !== 'pending') {
        throw new AppError('CONFLICT', `connection is ${connection.status}, not pending`, {
          reason: 'not_pending',
          details: { status: connection.status },
        });
      }
      await trx('integration_connection')
        .withSchema(SCHEMA)
        .where({ id: connection.id })
        .update({ status: 'error', error_reason: req.reason, updated_at: trx.fn.now() });
      if (instance.status === 'pending' && instance.previous_status !== null) {
        const otherLive = await liveConnections(trx, instance.id).first('id');
        if (!otherLive) {
          await trx('integration_instance').withSchema(SCHEMA).where({ id: instance.id }).update({
            status: instance.previous_status,
            previous_status: null,
            updated_at: trx.fn.now(),
          });
        }
      }
      return { connection: await loadConnection(trx, req.orgId, connection.id) };
    });
  };
}
