import { identityEntities } from '@otesse/identity';
import { sagaEntities } from '@otesse/saga';
import { OAuthSessionSchema } from './oauth-session.entity';
import { PendingAuthorizationSchema } from './pending-authorization.entity';
import { WebhookDeliverySchema } from './webhook-delivery.entity';

export * from './oauth-session.entity';
export * from './pending-authorization.entity';
export * from './webhook-delivery.entity';
export const entities = [
  ...identityEntities,
  ...sagaEntities,
  PendingAuthorizationSchema,
  OAuthSessionSchema,
  WebhookDeliverySchema,
];
