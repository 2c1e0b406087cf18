import { z } from 'zod';
import { ZProviderCategory } from '@otesse/contracts';

export const ZListIntegrationsInput = z
  .object({ category: ZProviderCategory.optional() })
  .strict()
  .optional();
