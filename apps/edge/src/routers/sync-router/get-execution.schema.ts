import { z } from 'zod';
import { ZUuid } from '@otesse/contracts';

export const ZGetExecutionInput = z.object({ executionId: ZUuid }).strict();
