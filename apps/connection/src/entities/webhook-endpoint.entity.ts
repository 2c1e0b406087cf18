import { EntitySchema } from '@mikro-orm/core';

/** Inbound webhook endpoint of an instance: created on its first connect, disabled (never deleted) on disconnect. */
export interface WebhookEndpoint {
  id: string;
  instanceId: string;
  /** The connection whose activation (re-)enabled it. */
  connectionId: string | null;
  /** Path the edge routes: `/webhooks/<vendor>/<instanceId>`. */
  url: string;
  status: 'enabled' | 'disabled';
  /** When the newest accepted delivery arrived (from `integrations.webhook.received`); null: none yet. */
  lastDeliveryAt: Date | null;
  /** When the newest delivery refused for its signature came, and why (the admin's clue); null: none. */
  lastRefusedAt: Date | null;
  lastRefusalReason: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export const WebhookEndpointSchema = new EntitySchema<WebhookEndpoint>({
  name: 'WebhookEndpoint',
  tableName: 'webhook_endpoint',
  uniques: [{ name: 'webhook_endpoint_instance_unique', properties: ['instanceId'] }],
  properties: {
    id: { type: 'uuid', primary: true },
    instanceId: {
      kind: 'm:1',
      entity: 'IntegrationInstance',
      mapToPk: true,
      joinColumn: 'instance_id',
    } as never,
    connectionId: { type: 'uuid', nullable: true },
    url: { type: 'string', length: 300 },
    status: { enum: true, items: () => ['enabled', 'disabled'] },
    lastDeliveryAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    lastRefusedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    lastRefusalReason: { type: 'string', length: 40, nullable: true },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});
