import type { MikroORM } from '@mikro-orm/postgresql';
import { AppError } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import { loadWebhookEndpoint } from '../store/connection.store';

const SCHEMA = 'connection';

/**
 * The inbound endpoint at `/webhooks/<vendor>/<instanceId>` with its org, for the edge's receiver, which knows
 * only the path. An instance that never connected (no endpoint) and another provider's instance answer alike.
 */
export function resolveWebhookEndpointHandler(
  orm: MikroORM,
): THandler<'connection.webhook-endpoints.resolve'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    const instance = (await knex('integration_instance')
      .withSchema(SCHEMA)
      .select('org_id', 'vendor')
      .where('id', req.instanceId)
      .first()) as { org_id: string; vendor: string } | undefined;
    const endpoint =
      instance?.vendor === req.vendor ? await loadWebhookEndpoint(knex, req.instanceId) : null;
    if (!instance || !endpoint) throw new AppError('NOT_FOUND', 'no such webhook endpoint');
    return { orgId: instance.org_id, endpoint };
  };
}
