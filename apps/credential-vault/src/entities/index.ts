import { ProcessedCommandSchema } from '@otesse/persistence';
import { CredentialSchema } from './credential.entity';

export * from './credential.entity';
export const entities = [CredentialSchema, ProcessedCommandSchema];
