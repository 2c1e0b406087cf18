import { z } from 'zod';
import { ZUuid } from '@otesse/contracts';

export const ZEnableJobInput = z.object({ jobId: ZUuid }).strict();
