import { z } from 'zod';
import { ZVendor, ZWebhookSecret } from '@otesse/contracts';

export const ZGetWebhookEndpointInput = z.object({ vendor: ZVendor }).strict();
export type TGetWebhookEndpointInput = z.infer<typeof ZGetWebhookEndpointInput>;

export const ZSetWebhookSecretInput = z
  .object({ vendor: ZVendor, secret: ZWebhookSecret })
  .strict();
export type TSetWebhookSecretInput = z.infer<typeof ZSetWebhookSecretInput>;
