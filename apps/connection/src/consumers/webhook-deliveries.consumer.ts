import type { NatsConnection } from 'nats';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { TWebhookReceivedEvent } from '@otesse/contracts';
import type { Logger } from '@otesse/logging';
import { consumeDurable, type TConsumerHandle } from '@otesse/messaging';

/** The connection service's durable consumer of accepted webhook deliveries on the INTEGRATIONS stream. */
export const WEBHOOK_DELIVERIES_DURABLE = 'connection-webhook-deliveries';

/**
 * Records when the endpoint's newest accepted delivery arrived, so an admin setting webhooks up sees the provider
 * got through. Never moves back (deliveries may be consumed out of order, or redelivered): idempotent.
 */
export async function recordWebhookDelivery(
  orm: MikroORM,
  event: Pick<TWebhookReceivedEvent, 'instanceId' | 'endpointId' | 'occurredAt'>,
): Promise<void> {
  await orm.em
    .getConnection()
    .getKnex()
    .raw(
      `update "connection".webhook_endpoint
          set last_delivery_at = ?::timestamptz
        where id = ? and instance_id = ?
          and (last_delivery_at is null or last_delivery_at < ?::timestamptz)`,
      [event.occurredAt, event.endpointId, event.instanceId, event.occurredAt],
    );
}

/** Consumes `integrations.webhook.received`; a failure (database down) is redelivered later. */
export function consumeWebhookDeliveries(deps: {
  nc: NatsConnection;
  orm: MikroORM;
  logger: Logger;
}): Promise<TConsumerHandle> {
  return consumeDurable(deps.nc, {
    stream: 'WEBHOOKS',
    durable: WEBHOOK_DELIVERIES_DURABLE,
    subjects: ['integrations.webhook.received'],
    logger: deps.logger,
    batch: 64,
    handler: async (event) => {
      await recordWebhookDelivery(deps.orm, event);
    },
  });
}
