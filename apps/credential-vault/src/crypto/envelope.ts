import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { TCredentialKind } from '@otesse/contracts';
import type { MasterKeyRing, TMasterKey } from './master-keys';

/**
 * Envelope encryption: each credential gets its own random data key (AES-256-GCM); the data key is wrapped
 * by a master key (AES-256-GCM too). Rotating a master key re-wraps the small data keys, never the values.
 */
const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const DATA_KEY_BYTES = 32;
/** Wrapped data key, stored as base64 of iv ‖ encrypted key ‖ tag. */
const WRAPPED_BYTES = IV_BYTES + DATA_KEY_BYTES + TAG_BYTES;
/** Bumped if the layout or the associated data ever change, so old and new never decrypt as each other. */
const FORMAT = 'otesse-vault/v1';

/** Where a value belongs. Bound into its associated data: a ciphertext moved to another row fails to decrypt. */
export interface TCredentialBinding {
  credentialId: string;
  orgId: string;
  connectionId: string;
  kind: TCredentialKind;
}

/**
 * Where an instance's webhook signing secret belongs. Bound into its associated data like a credential's binding:
 * a row copied to another instance or org (or relabelled as another provider's) fails to decrypt.
 */
export interface TWebhookSecretBinding {
  orgId: string;
  instanceId: string;
  vendor: string;
}

export interface TWrappedDataKey {
  wrappedDataKey: string;
  keyId: string;
}

/** The columns that hold a credential value. */
export interface TSealedCredential extends TWrappedDataKey {
  ciphertext: string;
  iv: string;
  authTag: string;
}

export type TVaultCryptoReason = 'unknown_master_key' | 'decrypt_failed' | 'destroyed';

/** Why a value could not be read; the message names ids only, never key material or values. */
export class VaultCryptoError extends Error {
  constructor(
    readonly reason: TVaultCryptoReason,
    message: string,
  ) {
    super(message);
    this.name = 'VaultCryptoError';
  }
}

// JSON arrays: unambiguous however the ids are spelled (no separator tricks).
function valueAad(b: TCredentialBinding): Buffer {
  return Buffer.from(
    JSON.stringify([FORMAT, 'value', b.credentialId, b.orgId, b.connectionId, b.kind]),
  );
}

function webhookSecretAad(b: TWebhookSecretBinding): Buffer {
  return Buffer.from(JSON.stringify([FORMAT, 'webhook-secret', b.orgId, b.instanceId, b.vendor]));
}

/**
 * Whose data key it is: bound into the wrapped key's associated data. A credential's is its id (unchanged since
 * v1, so existing rows still unwrap); a webhook secret's is prefixed, so it can never pass for a credential's.
 */
interface TKeyOwner {
  aadId: string;
  /** Names it in error messages (ids only). */
  label: string;
}

const credentialOwner = (credentialId: string): TKeyOwner => ({
  aadId: credentialId,
  label: `credential ${credentialId}`,
});
const webhookSecretOwner = (instanceId: string): TKeyOwner => ({
  aadId: `webhook-secret:${instanceId}`,
  label: `webhook secret of instance ${instanceId}`,
});

function dataKeyAad(keyId: string, owner: TKeyOwner): Buffer {
  return Buffer.from(JSON.stringify([FORMAT, 'data-key', keyId, owner.aadId]));
}

function decodeExact(value: string, bytes: number): Buffer | undefined {
  const buf = Buffer.from(value, 'base64');
  return buf.length === bytes ? buf : undefined;
}

function wrapDataKey(master: TMasterKey, owner: TKeyOwner, dataKey: Buffer): TWrappedDataKey {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, master.key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(dataKeyAad(master.keyId, owner));
  const encrypted = Buffer.concat([cipher.update(dataKey), cipher.final()]);
  return {
    wrappedDataKey: Buffer.concat([iv, encrypted, cipher.getAuthTag()]).toString('base64'),
    keyId: master.keyId,
  };
}

/** The caller must zero the returned buffer when done. */
function unwrapDataKey(ring: MasterKeyRing, owner: TKeyOwner, w: TWrappedDataKey): Buffer {
  if (w.wrappedDataKey === '') {
    throw new VaultCryptoError('destroyed', `${owner.label} was destroyed`);
  }
  const master = ring.get(w.keyId);
  if (!master) {
    throw new VaultCryptoError(
      'unknown_master_key',
      `${owner.label} is wrapped under master key ${w.keyId}, which is not configured`,
    );
  }
  const raw = decodeExact(w.wrappedDataKey, WRAPPED_BYTES);
  try {
    if (!raw) throw new Error('bad length');
    const decipher = createDecipheriv(ALGORITHM, master.key, raw.subarray(0, IV_BYTES), {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(dataKeyAad(w.keyId, owner));
    decipher.setAuthTag(raw.subarray(IV_BYTES + DATA_KEY_BYTES));
    return Buffer.concat([
      decipher.update(raw.subarray(IV_BYTES, IV_BYTES + DATA_KEY_BYTES)),
      decipher.final(),
    ]);
  } catch {
    throw new VaultCryptoError('decrypt_failed', `data key of ${owner.label} cannot be unwrapped`);
  }
}

/** Encrypts under a fresh data key wrapped by the active master key. */
function sealValue(
  ring: MasterKeyRing,
  owner: TKeyOwner,
  aad: Buffer,
  plaintext: string,
): TSealedCredential {
  const dataKey = randomBytes(DATA_KEY_BYTES);
  try {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, dataKey, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad);
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return {
      ciphertext: ciphertext.toString('base64'),
      iv: iv.toString('base64'),
      authTag: cipher.getAuthTag().toString('base64'),
      ...wrapDataKey(ring.active, owner, dataKey),
    };
  } finally {
    dataKey.fill(0);
  }
}

function openValue(
  ring: MasterKeyRing,
  owner: TKeyOwner,
  aad: Buffer,
  sealed: TSealedCredential,
): string {
  const dataKey = unwrapDataKey(ring, owner, sealed);
  try {
    const iv = decodeExact(sealed.iv, IV_BYTES);
    const tag = decodeExact(sealed.authTag, TAG_BYTES);
    if (!iv || !tag) throw new Error('bad iv or tag');
    const decipher = createDecipheriv(ALGORITHM, dataKey, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    return Buffer.concat([
      decipher.update(Buffer.from(sealed.ciphertext, 'base64')),
      decipher.final(),
    ]).toString('utf8');
  } catch {
    throw new VaultCryptoError('decrypt_failed', `${owner.label} cannot be decrypted`);
  } finally {
    dataKey.fill(0);
  }
}

function rewrap(ring: MasterKeyRing, owner: TKeyOwner, wrapped: TWrappedDataKey): TWrappedDataKey {
  const dataKey = unwrapDataKey(ring, owner, wrapped);
  try {
    return wrapDataKey(ring.active, owner, dataKey);
  } finally {
    dataKey.fill(0);
  }
}

/** Encrypts a value for one credential row under a fresh data key wrapped by the active master key. */
export function sealCredential(
  ring: MasterKeyRing,
  binding: TCredentialBinding,
  plaintext: string,
): TSealedCredential {
  return sealValue(ring, credentialOwner(binding.credentialId), valueAad(binding), plaintext);
}

/** Decrypts a value; fails (VaultCryptoError) on any tampering, a moved ciphertext or an unknown/wrong key. */
export function openCredential(
  ring: MasterKeyRing,
  binding: TCredentialBinding,
  sealed: TSealedCredential,
): string {
  return openValue(ring, credentialOwner(binding.credentialId), valueAad(binding), sealed);
}

/** Re-wraps a data key under the active master key (the value's ciphertext is untouched). */
export function rewrapDataKey(
  ring: MasterKeyRing,
  credentialId: string,
  wrapped: TWrappedDataKey,
): TWrappedDataKey {
  return rewrap(ring, credentialOwner(credentialId), wrapped);
}

/** Encrypts an instance's webhook signing secret exactly as a credential is (its own data key and binding). */
export function sealWebhookSecret(
  ring: MasterKeyRing,
  binding: TWebhookSecretBinding,
  secret: string,
): TSealedCredential {
  return sealValue(ring, webhookSecretOwner(binding.instanceId), webhookSecretAad(binding), secret);
}

/** Decrypts a webhook signing secret; fails (VaultCryptoError) as `openCredential` does. */
export function openWebhookSecret(
  ring: MasterKeyRing,
  binding: TWebhookSecretBinding,
  sealed: TSealedCredential,
): string {
  return openValue(ring, webhookSecretOwner(binding.instanceId), webhookSecretAad(binding), sealed);
}

/** Re-wraps a webhook secret's data key under the active master key (its ciphertext is untouched). */
export function rewrapWebhookSecretKey(
  ring: MasterKeyRing,
  instanceId: string,
  wrapped: TWrappedDataKey,
): TWrappedDataKey {
  return rewrap(ring, webhookSecretOwner(instanceId), wrapped);
}
