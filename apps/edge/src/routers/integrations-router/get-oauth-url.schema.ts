import { z } from 'zod';
import { ZConnectionFlow, ZOAuthAction, ZVendor } from '@otesse/contracts';

export const ZGetOAuthUrlInput = z
  .object({
    vendor: ZVendor,
    flow: ZConnectionFlow.default('app'),
    /** Seed 003: bypass the already-connected pre-check to reconnect (expired refresh token) or change the user. */
    action: ZOAuthAction.optional(),
  })
  .strict();
export type TGetOAuthUrlInput = z.infer<typeof ZGetOAuthUrlInput>;

export const ZGetOAuthUrlOutput = z.object({
  url: z
    .string()
    .describe(
      'One-time start link: opened in a browser it asks the user to confirm (organization, user) before ' +
        'redirecting to the provider; the dashboard POSTs it from its own origin instead',
    ),
  expiresAt: z.string(),
  action: ZOAuthAction.nullable(),
});
