import { z } from 'zod';
import { ZUserId } from '@otesse/contracts';

/**
 * `audit.actors`: a page of the org's users for the audit log's actor filter, searched by name or email, plus the
 * users named by `ids` (the actor the form has selected, shown by name even when the search no longer matches).
 * No input at all is the first page (an older dashboard bundle still asks that way).
 */
export const ZListAuditActorsInput = z
  .object({
    search: z
      .string()
      .trim()
      .max(100)
      // Postgres text cannot hold NUL: refused here as bad input rather than failing in the database.
      .refine((s) => !s.includes('\u0000'), 'must not contain NUL characters')
      .optional(),
    limit: z.number().int().min(1).max(100).default(50),
    ids: z.array(ZUserId).max(20).optional(),
  })
  .strict()
  // prefault, not default: zod 4 would return a default as is, without filling in `limit`.
  .prefault({});
export type TListAuditActorsInput = z.infer<typeof ZListAuditActorsInput>;
