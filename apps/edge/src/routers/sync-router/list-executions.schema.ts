import { z } from 'zod';
import { ZUuid } from '@otesse/contracts';

export const ZListExecutionsInput = z
  .object({
    jobId: ZUuid,
    limit: z.number().int().min(1).max(100).default(20),
    /** `nextBefore` of the previous page. */
    before: ZUuid.optional(),
  })
  .strict();
