import { z } from 'zod';
import { ZUuid } from '@otesse/contracts';

export const ZStartDisconnectInput = z
  .object({
    connectionId: ZUuid,
    /** The confirmation dialog's explicit yes. */
    confirm: z.literal(true),
    /** How long to wait for the saga to finish before answering with it still running. */
    waitMs: z.number().int().min(0).max(30_000).default(5_000),
  })
  .strict();
