import { z } from 'zod';
import { ZUuid } from '@otesse/contracts';

/** The pending connection whose unfinished connect to cancel. */
export const ZCancelConnectInput = z.object({ connectionId: ZUuid }).strict();
export type TCancelConnectInput = z.infer<typeof ZCancelConnectInput>;
