import { ProcessedCommandSchema } from '@otesse/persistence';
import { EventOutboxSchema } from './event-outbox.entity';
import { IntegrationConnectionSchema } from './integration-connection.entity';
import { IntegrationHealthSchema } from './integration-health.entity';
import { IntegrationInstanceSchema } from './integration-instance.entity';
import { WebhookEndpointSchema } from './webhook-endpoint.entity';

export * from './event-outbox.entity';
export * from './integration-connection.entity';
export * from './integration-health.entity';
export * from './integration-instance.entity';
export * from './webhook-endpoint.entity';
/** ProcessedCommand: saga commands sent to this service dedupe with `runOnce` (table `processed_command`). */
export const entities = [
  IntegrationInstanceSchema,
  IntegrationConnectionSchema,
  IntegrationHealthSchema,
  WebhookEndpointSchema,
  EventOutboxSchema,
  ProcessedCommandSchema,
];
