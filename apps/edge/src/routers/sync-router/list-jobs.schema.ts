import { z } from 'zod';
import { ZUuid } from '@otesse/contracts';

export const ZListJobsInput = z.object({ instanceId: ZUuid }).strict();
