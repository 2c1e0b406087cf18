import { z } from 'zod';
import { ZUuid } from '@otesse/contracts';

export const ZDisableJobInput = z.object({ jobId: ZUuid }).strict();
