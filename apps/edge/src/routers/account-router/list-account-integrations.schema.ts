import { z } from 'zod';
import { ZProviderCategory } from '@otesse/contracts';

/** A query-string flag: as the seed's URL writes it (`…&includeUserLevelConnectionData=true`), or `1`/`0`. */
const ZFlag = z.enum(['true', 'false', '1', '0']);
export const isFlagSet = (flag: z.infer<typeof ZFlag> | undefined): boolean =>
  flag === 'true' || flag === '1';

export const ZListAccountIntegrationsInput = z
  .object({
    /** Category filter, e.g. `supportAndTicketing`. */
    type: ZProviderCategory.optional(),
    includeUserLevelConnectionData: ZFlag.optional(),
  })
  .strict();

/** Seed 003's response shape, field for field. */
export const ZAccountIntegration = z.object({
  vendor: z.string(),
  integrated: z.boolean(),
  connectionDetails: z
    .object({
      total: z.number().int().describe("the org's users who could connect a user-level connection"),
      connected: z
        .number()
        .int()
        .describe('users with an active (connected) user-level connection'),
    })
    .optional(),
  refreshTokenExpired: z.boolean(),
});
export const ZListAccountIntegrationsOutput = z.array(ZAccountIntegration);
