import { z } from 'zod';
import { ZSubdomain, ZVendor } from '@otesse/contracts';

export const ZConfigureInstanceInput = z
  .object({ vendor: ZVendor, subdomain: ZSubdomain })
  .strict();
