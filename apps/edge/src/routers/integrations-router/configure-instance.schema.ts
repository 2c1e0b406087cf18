import { z } from 'zod';
import { ZSiteId, ZSubdomain, ZVendor } from '@otesse/contracts';

/** The subdomain of a per-customer host (ServiceNow, Zendesk) or the site of an Atlassian instance: one of the two. */
export const ZConfigureInstanceInput = z
  .object({ vendor: ZVendor, subdomain: ZSubdomain.optional(), site: ZSiteId.optional() })
  .strict()
  .refine((v) => (v.subdomain === undefined) !== (v.site === undefined), {
    message: 'give either subdomain or site',
  });
export type TConfigureInstanceInput = z.infer<typeof ZConfigureInstanceInput>;
