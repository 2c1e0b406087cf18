import { EntitySchema } from '@mikro-orm/core';

/**
 * A token revocation in progress (`vault.tokens.revoke`, one per idempotency key). The provider is called outside
 * any transaction — a hanging revocation endpoint must not hold a pooled connection and a lock for its timeout —
 * so this row is what makes the calls happen once: the replica that claims the key calls the provider; a
 * duplicate meanwhile is told to retry (its retry replays the stored report). A claim whose holder died expires
 * at `claimedUntil` and may be taken over. `blocksRefresh`: the connection's current tokens are being revoked,
 * so no refresh may rotate them meanwhile. Deleted when the report is stored.
 */
export interface RevocationClaim {
  key: string;
  orgId: string;
  connectionId: string;
  blocksRefresh: boolean;
  claimedUntil: Date;
  createdAt: Date;
}

export const RevocationClaimSchema = new EntitySchema<RevocationClaim>({
  name: 'RevocationClaim',
  tableName: 'revocation_claim',
  indexes: [{ name: 'revocation_claim_connection_idx', properties: ['connectionId'] }],
  properties: {
    key: { type: 'string', length: 200, primary: true },
    orgId: { type: 'uuid' },
    connectionId: { type: 'uuid' },
    blocksRefresh: { type: 'boolean' },
    claimedUntil: { type: 'datetime', columnType: 'timestamptz' },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});
