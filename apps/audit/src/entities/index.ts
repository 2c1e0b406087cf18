import { AuditEntrySchema } from './audit-entry.entity';
import { ChainHeadSchema } from './chain-head.entity';

export * from './audit-entry.entity';
export * from './chain-head.entity';
export const entities = [AuditEntrySchema, ChainHeadSchema];
