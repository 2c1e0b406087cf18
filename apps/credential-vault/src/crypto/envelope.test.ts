import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  openCredential,
  openWebhookSecret,
  rewrapDataKey,
  rewrapWebhookSecretKey,
  sealCredential,
  sealWebhookSecret,
  VaultCryptoError,
  type TCredentialBinding,
  type TSealedCredential,
  type TWebhookSecretBinding,
} from './envelope';
import { MasterKeyRing, type TMasterKey } from './master-keys';

const key = (keyId: string): TMasterKey => ({ keyId, key: randomBytes(32) });
const binding = (): TCredentialBinding => ({
  credentialId: randomUUID(),
  orgId: randomUUID(),
  connectionId: randomUUID(),
  kind: 'access_token',
});
const PLAINTEXT = 'fpa_tôkén-with-ünicode-and-length-' + 'x'.repeat(200);

/** Flips one bit of a base64 field. */
function flip(b64: string, byte = 0): string {
  const buf = Buffer.from(b64, 'base64');
  buf[byte] = buf[byte]! ^ 0x01;
  return buf.toString('base64');
}

function expectFails(fn: () => unknown, reason: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(VaultCryptoError);
  expect((err as VaultCryptoError).reason).toBe(reason);
  expect((err as Error).message).not.toContain(PLAINTEXT);
}

describe('envelope encryption', () => {
  const k1 = key('k1');
  const ring = new MasterKeyRing([k1]);

  it('round-trips, with a fresh data key and iv each time', () => {
    const b = binding();
    const a = sealCredential(ring, b, PLAINTEXT);
    const c = sealCredential(ring, b, PLAINTEXT);
    expect(openCredential(ring, b, a)).toBe(PLAINTEXT);
    expect(a.keyId).toBe('k1');
    expect(a.ciphertext).not.toBe(c.ciphertext);
    expect(a.wrappedDataKey).not.toBe(c.wrappedDataKey);
    expect(a.iv).not.toBe(c.iv);
    for (const v of Object.values(a)) {
      expect(v).not.toContain(PLAINTEXT);
      expect(v).not.toContain(Buffer.from(PLAINTEXT).toString('base64').slice(0, 20));
    }
  });

  it('fails on a tampered ciphertext, tag, iv or wrapped key', () => {
    const b = binding();
    const s = sealCredential(ring, b, PLAINTEXT);
    const tamper = (patch: Partial<TSealedCredential>) => ({ ...s, ...patch });
    expectFails(
      () => openCredential(ring, b, tamper({ ciphertext: flip(s.ciphertext, 5) })),
      'decrypt_failed',
    );
    expectFails(
      () => openCredential(ring, b, tamper({ authTag: flip(s.authTag) })),
      'decrypt_failed',
    );
    expectFails(() => openCredential(ring, b, tamper({ iv: flip(s.iv) })), 'decrypt_failed');
    expectFails(() => openCredential(ring, b, tamper({ authTag: '' })), 'decrypt_failed');
    expectFails(
      () => openCredential(ring, b, tamper({ wrappedDataKey: flip(s.wrappedDataKey, 20) })),
      'decrypt_failed',
    );
    expectFails(
      () => openCredential(ring, b, tamper({ wrappedDataKey: s.wrappedDataKey.slice(4) })),
      'decrypt_failed',
    );
  });

  it('fails when the ciphertext is read as another credential, org, connection or kind', () => {
    const b = binding();
    const s = sealCredential(ring, b, PLAINTEXT);
    expectFails(
      () => openCredential(ring, { ...b, credentialId: randomUUID() }, s),
      'decrypt_failed',
    );
    expectFails(() => openCredential(ring, { ...b, orgId: randomUUID() }, s), 'decrypt_failed');
    expectFails(
      () => openCredential(ring, { ...b, connectionId: randomUUID() }, s),
      'decrypt_failed',
    );
    expectFails(() => openCredential(ring, { ...b, kind: 'refresh_token' }, s), 'decrypt_failed');
    // A whole row's key material moved to another row: the wrapped key is bound to its credential id too.
    const other = binding();
    expectFails(() => openCredential(ring, { ...other, orgId: b.orgId }, s), 'decrypt_failed');
  });

  it('fails with the wrong master key, or one not configured', () => {
    const b = binding();
    const s = sealCredential(ring, b, PLAINTEXT);
    expectFails(() => openCredential(new MasterKeyRing([key('k1')]), b, s), 'decrypt_failed');
    expectFails(() => openCredential(new MasterKeyRing([key('k2')]), b, s), 'unknown_master_key');
    // The key id is bound into the wrapped key: relabelling it under another configured key fails too.
    const twin = new MasterKeyRing([{ keyId: 'k2', key: k1.key }, k1]);
    expectFails(() => openCredential(twin, b, { ...s, keyId: 'k2' }), 'decrypt_failed');
  });

  it('refuses a destroyed credential', () => {
    const b = binding();
    const s = sealCredential(ring, b, PLAINTEXT);
    expectFails(
      () =>
        openCredential(ring, b, { ...s, ciphertext: '', iv: '', authTag: '', wrappedDataKey: '' }),
      'destroyed',
    );
  });

  it('rotation re-wraps the data key under the active key; old values still decrypt', () => {
    const b = binding();
    const old = sealCredential(ring, b, PLAINTEXT);
    const k2 = key('k2');
    const rotated = new MasterKeyRing([k2, k1]);
    // Before re-wrapping, the new ring still reads values under the old key.
    expect(openCredential(rotated, b, old)).toBe(PLAINTEXT);
    const rewrapped = rewrapDataKey(rotated, b.credentialId, old);
    expect(rewrapped.keyId).toBe('k2');
    expect(rewrapped.wrappedDataKey).not.toBe(old.wrappedDataKey);
    const moved = { ...old, ...rewrapped };
    expect(openCredential(rotated, b, moved)).toBe(PLAINTEXT);
    // Once re-wrapped, the old key is no longer needed.
    expect(openCredential(new MasterKeyRing([k2]), b, moved)).toBe(PLAINTEXT);
    expectFails(() => openCredential(new MasterKeyRing([k1]), b, moved), 'unknown_master_key');
    // New credentials go under the active key.
    expect(sealCredential(rotated, binding(), 'x').keyId).toBe('k2');
  });

  describe('webhook secrets', () => {
    const wb = (): TWebhookSecretBinding => ({
      orgId: randomUUID(),
      instanceId: randomUUID(),
      vendor: 'quickbooks',
    });

    it('round-trip, bound to org, instance and vendor', () => {
      const b = wb();
      const s = sealWebhookSecret(ring, b, PLAINTEXT);
      expect(s.keyId).toBe('k1');
      expect(openWebhookSecret(ring, b, s)).toBe(PLAINTEXT);
      expectFails(
        () => openWebhookSecret(ring, { ...b, orgId: randomUUID() }, s),
        'decrypt_failed',
      );
      expectFails(
        () => openWebhookSecret(ring, { ...b, instanceId: randomUUID() }, s),
        'decrypt_failed',
      );
      expectFails(() => openWebhookSecret(ring, { ...b, vendor: 'xero' }, s), 'decrypt_failed');
    });

    it('never open as a credential, nor a credential as one, even with matching ids', () => {
      const b = wb();
      const cb: TCredentialBinding = {
        credentialId: b.instanceId,
        orgId: b.orgId,
        connectionId: b.instanceId,
        kind: 'access_token',
      };
      expectFails(
        () => openCredential(ring, cb, sealWebhookSecret(ring, b, PLAINTEXT)),
        'decrypt_failed',
      );
      expectFails(
        () => openWebhookSecret(ring, b, sealCredential(ring, cb, PLAINTEXT)),
        'decrypt_failed',
      );
    });

    it('re-wrap under the active key; the ciphertext is untouched', () => {
      const b = wb();
      const old = sealWebhookSecret(ring, b, PLAINTEXT);
      const rotated = new MasterKeyRing([key('k2'), k1]);
      const moved = { ...old, ...rewrapWebhookSecretKey(rotated, b.instanceId, old) };
      expect(moved.keyId).toBe('k2');
      expect(moved.ciphertext).toBe(old.ciphertext);
      expect(openWebhookSecret(rotated, b, moved)).toBe(PLAINTEXT);
      // Its data key is bound to the instance: the credential re-wrap (keyed by id) cannot unwrap it.
      expect(() => rewrapDataKey(rotated, b.instanceId, old)).toThrow(VaultCryptoError);
    });
  });
});
