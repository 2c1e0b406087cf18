import { z } from 'zod';

export const OPERATION_TYPES = ['disconnect', 'reconnect', 'change-user', 'unlink-tenant'] as const;

/** `open`: running or compensating; `stopped`: failed past its pivot, waiting for a resume. */
export const OPERATION_STATUS_FILTERS = {
  open: ['running', 'compensating'],
  stopped: ['failed'],
  completed: ['completed'],
  compensated: ['compensated'],
} as const;

export const ZListOperationsInput = z
  .object({
    status: z.enum(['open', 'stopped', 'completed', 'compensated']).optional(),
    type: z.enum(OPERATION_TYPES).optional(),
    limit: z.number().int().min(1).max(100).default(25),
    /** `nextCursor` of the previous page. */
    cursor: z.string().max(200).optional(),
  })
  .strict()
  .default({ limit: 25 });
export type TListOperationsInput = z.infer<typeof ZListOperationsInput>;
