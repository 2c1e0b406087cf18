import type { MikroORM } from '@mikro-orm/postgresql';
import type { TConnection } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import { loadConnections, loadInstances } from '../store/connection.store';

/**
 * Every instance of the org with its connections (the ended ones only among `endedConnectionIds` when given): two
 * queries, whatever the number of instances.
 */
export function listIntegrationsHandler(orm: MikroORM): THandler<'connection.integrations.list'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    const [instances, connections] = await Promise.all([
      loadInstances(knex, { orgId: req.orgId }),
      loadConnections(knex, { orgId: req.orgId, endedAmong: req.endedConnectionIds }),
    ]);
    const byInstance = new Map<string, TConnection[]>();
    for (const c of connections) {
      const list = byInstance.get(c.instanceId) ?? [];
      list.push(c);
      byInstance.set(c.instanceId, list);
    }
    return {
      instances: instances.map((instance) => ({
        instance,
        connections: byInstance.get(instance.id) ?? [],
      })),
    };
  };
}
