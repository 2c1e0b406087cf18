import type { MikroORM } from '@mikro-orm/postgresql';
import type { THandler } from '@otesse/messaging';
import { loadConnections, loadInstances, loadWebhookEndpoint } from '../store/connection.store';

/**
 * The org's instance of a vendor (null when never configured or connected) with its connections: all of them, or
 * only one external account's.
 */
export function getInstanceHandler(orm: MikroORM): THandler<'connection.instances.get'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    const [instance] = await loadInstances(knex, { orgId: req.orgId, vendor: req.vendor });
    if (!instance) return { instance: null, connections: [], webhookEndpoint: null };
    const [connections, webhookEndpoint] = await Promise.all([
      loadConnections(knex, {
        orgId: req.orgId,
        instanceIds: [instance.id],
        ...(req.externalAccountId !== undefined
          ? { externalAccountId: req.externalAccountId }
          : {}),
      }),
      loadWebhookEndpoint(knex, instance.id),
    ]);
    return { instance, connections, webhookEndpoint };
  };
}
