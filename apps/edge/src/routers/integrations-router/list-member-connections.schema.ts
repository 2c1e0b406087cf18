import { z } from 'zod';
import { ZUuid, ZVendor } from '@otesse/contracts';

export const ZListMemberConnectionsInput = z
  .object({
    vendor: ZVendor,
    /** The last connection of the previous page (its `nextAfter`). */
    after: ZUuid.optional(),
    limit: z.number().int().min(1).max(200).default(50),
  })
  .strict();
export type TListMemberConnectionsInput = z.infer<typeof ZListMemberConnectionsInput>;
