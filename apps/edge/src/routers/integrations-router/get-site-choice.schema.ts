import { z } from 'zod';
import { ZConnectionFlow, ZUuid, ZVendor } from '@otesse/contracts';

/** The `siteChoice` the edge put in the dashboard's URL after a site refusal: the pending authorization's id. */
export const ZGetSiteChoiceInput = z.object({ id: ZUuid }).strict();
export type TGetSiteChoiceInput = z.infer<typeof ZGetSiteChoiceInput>;

export const ZGetSiteChoiceOutput = z.object({
  vendor: ZVendor,
  flow: ZConnectionFlow,
  /** Why the connect was refused: `site_choice_required` or `site_not_reachable`. */
  reason: z.string(),
  /** The sites the account reaches, as the provider named them. */
  sites: z.array(z.object({ id: z.string(), name: z.string() })),
});
export type TGetSiteChoiceOutput = z.infer<typeof ZGetSiteChoiceOutput>;
