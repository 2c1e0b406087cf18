import { z } from 'zod';
import { WEBHOOK_SECRET_MAX_GRACE_SECONDS, ZVendor, ZWebhookSecret } from '@otesse/contracts';

export const ZGetWebhookEndpointInput = z.object({ vendor: ZVendor }).strict();
export type TGetWebhookEndpointInput = z.infer<typeof ZGetWebhookEndpointInput>;

export const ZSetWebhookSecretInput = z
  .object({
    vendor: ZVendor,
    secret: ZWebhookSecret,
    /**
     * When replacing a secret: how long the replaced one stays accepted (hours, at most 7 days), so the provider
     * can be switched to the new one without a delivery refused meanwhile. 0, the default: refused at once (a
     * leaked secret).
     */
    keepPreviousHours: z
      .number()
      .int()
      .min(0)
      .max(WEBHOOK_SECRET_MAX_GRACE_SECONDS / 3600)
      .default(0),
  })
  .strict();
export type TSetWebhookSecretInput = z.infer<typeof ZSetWebhookSecretInput>;

export const ZExpirePreviousWebhookSecretInput = z.object({ vendor: ZVendor }).strict();
export type TExpirePreviousWebhookSecretInput = z.infer<typeof ZExpirePreviousWebhookSecretInput>;

export const ZRemoveWebhookSecretInput = z.object({ vendor: ZVendor }).strict();
export type TRemoveWebhookSecretInput = z.infer<typeof ZRemoveWebhookSecretInput>;
