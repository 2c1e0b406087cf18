import { z } from 'zod';
import { ZProviderCategory } from '@otesse/contracts';

export const ZListProvidersInput = z
  .object({ category: ZProviderCategory.optional() })
  .strict()
  .optional();
export type TListProvidersInput = z.infer<typeof ZListProvidersInput>;
