import { z } from 'zod';
import { ZUuid } from '@otesse/contracts';

export const ZResumeOperationInput = z
  .object({
    sagaId: ZUuid,
    /** How long to wait for the resumed saga to finish before answering with it still running. */
    waitMs: z.number().int().min(0).max(30_000).default(5_000),
  })
  .strict();
