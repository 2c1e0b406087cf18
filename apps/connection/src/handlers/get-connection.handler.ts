import type { MikroORM } from '@mikro-orm/postgresql';
import type { THandler } from '@otesse/messaging';
import { loadConnection, loadInstance } from '../store/connection.store';

/** NOT_FOUND for a missing connection and for another org's alike: ids never leak across orgs. */
export function getConnectionHandler(orm: MikroORM): THandler<'connection.connections.get'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    const connection = await loadConnection(knex, req.orgId, req.connectionId);
    return { connection, instance: await loadInstance(knex, req.orgId, connection.instanceId) };
  };
}
