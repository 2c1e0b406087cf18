import { EntitySchema } from '@mikro-orm/core';

/**
 * An instance's replaced webhook secret, still accepted until `expiresAt` so the admin can change it at the
 * provider without a delivery being refused (`vault.webhook-secrets.set` with `keepPreviousSeconds`). The sealed
 * columns are the replaced row's, moved as they were (same data key, same associated data: nothing re-encrypted).
 * At most one per instance; destroyed when it expires, when the secret is replaced again, or on request
 * (`vault.webhook-secrets.expire-previous`).
 */
export interface PreviousWebhookSecret {
  instanceId: string;
  orgId: string;
  vendor: string;
  ciphertext: string;
  iv: string;
  authTag: string;
  wrappedDataKey: string;
  keyId: string;
  /** When it was replaced. */
  createdAt: Date;
  updatedAt: Date;
  expiresAt: Date;
  /** The newest delivery signed with it: whether the provider still uses it. */
  lastUsedAt: Date | null;
}

export const PreviousWebhookSecretSchema = new EntitySchema<PreviousWebhookSecret>({
  name: 'PreviousWebhookSecret',
  tableName: 'webhook_secret_previous',
  indexes: [
    { name: 'webhook_secret_previous_key_id_idx', properties: ['keyId'] },
    // The purge of expired ones.
    { name: 'webhook_secret_previous_expires_at_idx', properties: ['expiresAt'] },
  ],
  properties: {
    instanceId: { type: 'uuid', primary: true },
    orgId: { type: 'uuid' },
    vendor: { type: 'string', length: 40 },
    ciphertext: { type: 'text' },
    iv: { type: 'string', length: 24 },
    authTag: { type: 'string', length: 24 },
    wrappedDataKey: { type: 'string', length: 128 },
    keyId: { type: 'string', length: 64 },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
    expiresAt: { type: 'datetime', columnType: 'timestamptz' },
    lastUsedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
  },
});
