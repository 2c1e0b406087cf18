import { EntitySchema } from '@mikro-orm/core';

/**
 * A started OAuth authorization (RFC 9700): who started it, for what, bound to the browser that opened the start
 * URL, single use, 10 minutes. Only hashes of the start key, the state and the browser binding are stored.
 */
export interface PendingAuthorization {
  id: string;
  startKeyHash: string;
  stateHash: string | null;
  bindingHash: string | null;
  orgId: string;
  userId: string;
  vendor: string;
  flow: string;
  action: string | null;
  /** For reconnect / changeUser: the connection being replaced. */
  targetConnectionId: string | null;
  createdAt: Date;
  expiresAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
  outcome: string | null;
  /**
   * After a site refusal (Atlassian): the sites the account reaches, which the dashboard's picker offers. Kept here
   * rather than in the redirect's URL, where anyone crafting a link could name sites at will.
   */
  sites: { id: string; name: string }[] | null;
}

export const PendingAuthorizationSchema = new EntitySchema<PendingAuthorization>({
  name: 'PendingAuthorization',
  tableName: 'pending_authorization',
  uniques: [
    { name: 'pending_authorization_start_key_unique', properties: ['startKeyHash'] },
    { name: 'pending_authorization_state_unique', properties: ['stateHash'] },
  ],
  // The purge finds expired authorizations by it.
  indexes: [{ name: 'pending_authorization_expires_at_idx', properties: ['expiresAt'] }],
  properties: {
    id: { type: 'uuid', primary: true },
    startKeyHash: { type: 'string', length: 64 },
    stateHash: { type: 'string', length: 64, nullable: true },
    bindingHash: { type: 'string', length: 64, nullable: true },
    orgId: { type: 'uuid' },
    userId: { type: 'uuid' },
    vendor: { type: 'string', length: 40 },
    flow: { type: 'string', length: 8 },
    action: { type: 'string', length: 16, nullable: true },
    targetConnectionId: { type: 'uuid', nullable: true },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    expiresAt: { type: 'datetime', columnType: 'timestamptz' },
    startedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    completedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    outcome: { type: 'string', length: 64, nullable: true },
    sites: { type: 'json', nullable: true },
  },
});
