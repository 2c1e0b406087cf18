import { z } from 'zod';
import { ZUuid } from '@otesse/contracts';

export const ZSagaIdInput = z.object({ sagaId: ZUuid }).strict();
