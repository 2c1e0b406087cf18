import { EntitySchema } from '@mikro-orm/core';
import { SEALED_WEBHOOK_SECRET_PROPERTIES, type WebhookSecret } from './webhook-secret.entity';

/**
 * An instance's replaced webhook secret, still accepted until `expiresAt` so the admin can change it at the
 * provider without a delivery being refused (`vault.webhook-secrets.set` with `keepPreviousSeconds`). The sealed
 * columns (`WebhookSecret`'s) are the replaced row's, moved as they were (same data key, same associated data:
 * nothing re-encrypted). At most one per instance; destroyed when it expires, when the secret is replaced again, or on request
 * (`vault.webhook-secrets.expire-previous`).
 */
export interface PreviousWebhookSecret extends WebhookSecret {
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
    ...SEALED_WEBHOOK_SECRET_PROPERTIES,
    expiresAt: { type: 'datetime', columnType: 'timestamptz' },
    lastUsedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
  },
});
