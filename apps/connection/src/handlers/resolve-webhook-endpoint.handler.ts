import type { MikroORM } from '@mikro-orm/postgresql';
import { AppError } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import { toWebhookEndpoint, type TWebhookRow } from '../store/connection.store';

const SCHEMA = 'connection';

/**
 * The inbound endpoint at `/webhooks/<vendor>/<instanceId>` with its org, for the edge's receiver, which knows
 * only the path. An instance that never connected (no endpoint) and another provider's instance answer alike.
 * One statement: it is on the path of every delivery.
 */
export function resolveWebhookEndpointHandler(
  orm: MikroORM,
): THandler<'connection.webhook-endpoints.resolve'> {
  return async (req) => {
    const row = (await orm.em
      .getConnection()
      .getKnex()(`${SCHEMA}.webhook_endpoint as e`)
      .join(`${SCHEMA}.integration_instance as i`, 'i.id', 'e.instance_id')
      .where({ 'e.instance_id': req.instanceId, 'i.vendor': req.vendor })
      .first('e.*', 'i.org_id as instance_org_id')) as
      (TWebhookRow & { instance_org_id: string }) | undefined;
    if (!row) throw new AppError('NOT_FOUND', 'no such webhook endpoint');
    return { orgId: row.instance_org_id, endpoint: toWebhookEndpoint(row) };
  };
}
