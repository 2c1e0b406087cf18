import type { MikroORM } from '@mikro-orm/postgresql';
import type { THandler } from '@otesse/messaging';
import { loadConnections, loadInstances, loadWebhookEndpoint } from '../store/connection.store';

/**
 * The org's instance of a vendor (null when never configured or connected) with the connections asked for: all of
 * them, one external account's, one slot's, the newest with a site, or none.
 */
export function getInstanceHandler(orm: MikroORM): THandler<'connection.instances.get'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    const [instance] = await loadInstances(knex, { orgId: req.orgId, vendor: req.vendor });
    if (!instance) return { instance: null, connections: [], webhookEndpoint: null };
    const [connections, webhookEndpoint] = await Promise.all([
      req.withConnections === false
        ? Promise.resolve([])
        : loadConnections(knex, {
            orgId: req.orgId,
            instanceIds: [instance.id],
            externalAccountId: req.externalAccountId,
            slot: req.slot,
            withTenant: req.withTenant,
            statuses: req.statuses,
            newest: req.newest,
          }),
      loadWebhookEndpoint(knex, instance.id),
    ]);
    return { instance, connections, webhookEndpoint };
  };
}
