import { z } from 'zod';
import { ZAuditFilters } from '@otesse/contracts';

export const ZListAuditEntriesInput = z
  .object({
    filters: ZAuditFilters.default({}),
    cursor: z.string().max(200).nullable().default(null),
    limit: z.number().int().min(1).max(200).default(50),
  })
  .strict();
