import { z } from 'zod';
import { ZVendor } from '@otesse/contracts';

/** Which instance's unlink to preview: the org's instance of a vendor. */
export const ZUnlinkTenantPreviewInput = z.object({ vendor: ZVendor }).strict();
export type TUnlinkTenantPreviewInput = z.infer<typeof ZUnlinkTenantPreviewInput>;

export const ZUnlinkTenantInput = z
  .object({
    vendor: ZVendor,
    /**
     * The tenant the admin typed to confirm: it must be the instance's pin, so a slip of the mouse (or a dialog
     * left open while another admin changed things) erases nothing.
     */
    confirmTenantId: z.string().trim().min(1).max(300),
    /** How long to wait for the saga to finish before answering with it still running. */
    waitMs: z.number().int().min(0).max(60_000).default(10_000),
  })
  .strict();
export type TUnlinkTenantInput = z.infer<typeof ZUnlinkTenantInput>;
