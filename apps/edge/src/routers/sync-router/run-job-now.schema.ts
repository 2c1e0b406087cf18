import { z } from 'zod';
import { ZUuid } from '@otesse/contracts';

export const ZRunJobNowInput = z.object({ jobId: ZUuid }).strict();
