import { EntitySchema } from '@mikro-orm/core';

/**
 * An instance's webhook signing secret (`vault.webhook-secrets.set`), one per instance, envelope-encrypted exactly
 * like a credential (see crypto/envelope.ts: its own data key; org, instance and vendor bound as associated data).
 * Never handed out: the vault checks signatures with it (`vault.webhook-signatures.verify`). Replacing it
 * re-encrypts the row in place under a fresh data key. It outlives disconnects (the endpoint it belongs to does).
 */
export interface WebhookSecret {
  instanceId: string;
  orgId: string;
  vendor: string;
  /** base64 AES-256-GCM ciphertext of the secret under its data key. */
  ciphertext: string;
  /** base64 12-byte GCM nonce. */
  iv: string;
  /** base64 16-byte GCM tag. */
  authTag: string;
  /** base64 (iv ‖ data key encrypted by the master key ‖ tag). */
  wrappedDataKey: string;
  /** Master key that wraps the data key. */
  keyId: string;
  createdAt: Date;
  updatedAt: Date;
}

/** The columns of a sealed webhook secret, shared by the current one and a replaced one kept for its grace. */
export const SEALED_WEBHOOK_SECRET_PROPERTIES = {
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
} as const;

export const WebhookSecretSchema = new EntitySchema<WebhookSecret>({
  name: 'WebhookSecret',
  tableName: 'webhook_secret',
  // Rotation looks for data keys not under the active master key; the start's master-key check
  // (crypto/master-key-check.ts) for the key ids in use and each one's newest secrets.
  indexes: [{ name: 'webhook_secret_key_id_idx', properties: ['keyId', 'updatedAt'] }],
  properties: SEALED_WEBHOOK_SECRET_PROPERTIES,
});
