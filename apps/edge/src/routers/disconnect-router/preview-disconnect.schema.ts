import { z } from 'zod';
import { ZUuid } from '@otesse/contracts';

export const ZPreviewDisconnectInput = z.object({ connectionId: ZUuid }).strict();
