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
    .describe('Open in the browser: a one-time start link that redirects to the provider'),
  expiresAt: z.string(),
  action: ZOAuthAction.nullable(),
});
