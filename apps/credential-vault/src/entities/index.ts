import { ProcessedCommandSchema } from '@otesse/persistence';
import { CredentialSchema } from './credential.entity';
import { RevocationClaimSchema } from './revocation-claim.entity';

export * from './credential.entity';
export * from './revocation-claim.entity';
export const entities = [CredentialSchema, RevocationClaimSchema, ProcessedCommandSchema];
