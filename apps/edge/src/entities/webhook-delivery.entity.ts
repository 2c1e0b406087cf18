import { EntitySchema } from '@mikro-orm/core';

/**
 * An inbound webhook delivery the edge took (see `webhooks/seen-deliveries.ts`), so that a replay of it is answered
 * without being published again. Keyed by what the provider signed, never by an unsigned header: the endpoint, the
 * body's SHA-256 and the signed timestamp ('' for schemes that sign none). Nothing of the body is kept.
 */
export interface WebhookDelivery {
  endpointId: string;
  bodySha256: string;
  signedTimestamp: string;
  /** First receipt (the database's clock): the purge deletes rows older than the retention by it. */
  receivedAt: Date;
  /** The attempt publishing it now (a random id) and since when: a claim never published is taken over later. */
  claimId: string;
  claimedAt: Date;
  /** When it was published on JetStream; null while the claim's publish is under way (or its edge died). */
  publishedAt: Date | null;
}

export const WebhookDeliverySchema = new EntitySchema<WebhookDelivery>({
  name: 'WebhookDelivery',
  tableName: 'webhook_delivery',
  indexes: [
    { name: 'webhook_delivery_received_at_idx', properties: ['receivedAt'] },
    // Timestamped schemes' records are purged sooner (seen-deliveries.ts): their own index keeps that purge cheap.
    {
      name: 'webhook_delivery_timestamped_received_at_idx',
      expression: `create index "webhook_delivery_timestamped_received_at_idx" on "edge"."webhook_delivery" ("received_at") where "signed_timestamp" <> ''`,
    },
  ],
  properties: {
    endpointId: { type: 'uuid', primary: true },
    bodySha256: { type: 'string', length: 64, primary: true },
    signedTimestamp: { type: 'string', length: 64, primary: true },
    receivedAt: { type: 'datetime', columnType: 'timestamptz' },
    claimId: { type: 'uuid' },
    claimedAt: { type: 'datetime', columnType: 'timestamptz' },
    publishedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
  },
});
