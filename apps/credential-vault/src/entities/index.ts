import { ProcessedCommandSchema } from '@otesse/persistence';
import { ClosedConnectionSchema } from './closed-connection.entity';
import { CredentialSchema } from './credential.entity';
import { PreviousWebhookSecretSchema } from './previous-webhook-secret.entity';
import { RevocationClaimSchema } from './revocation-claim.entity';
import { WebhookSecretSchema } from './webhook-secret.entity';

export * from './closed-connection.entity';
export * from './credential.entity';
export * from './previous-webhook-secret.entity';
export * from './revocation-claim.entity';
export * from './webhook-secret.entity';
export const entities = [
  CredentialSchema,
  RevocationClaimSchema,
  ClosedConnectionSchema,
  WebhookSecretSchema,
  PreviousWebhookSecretSchema,
  ProcessedCommandSchema,
];
