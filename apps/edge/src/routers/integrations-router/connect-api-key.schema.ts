import { z } from 'zod';
import { ZVendor } from '@otesse/contracts';

export const ZConnectApiKeyInput = z
  .object({
    vendor: ZVendor,
    apiKey: z.string().min(8).max(256),
    senderEmails: z.array(z.email()).max(50).default([]),
  })
  .strict();
