import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MasterKeyError, MasterKeyRing, parseMasterKeys } from './master-keys';

const b64 = (n = 32) => randomBytes(n).toString('base64');

describe('master keys', () => {
  it('parses keyId:base64 entries, the first active', () => {
    const k1 = b64();
    const k2 = b64();
    const keys = parseMasterKeys(`k2026:${k1}, k2025:${k2}`);
    expect(keys.map((k) => k.keyId)).toEqual(['k2026', 'k2025']);
    expect(keys[0]!.key.toString('base64')).toBe(k1);
    const ring = new MasterKeyRing(keys);
    expect(ring.active.keyId).toBe('k2026');
    expect(ring.get('k2025')?.key.toString('base64')).toBe(k2);
    expect(ring.get('nope')).toBeUndefined();
  });

  it.each([
    ['', /no empty entries/],
    ['k1:' + b64() + ',', /no empty entries/],
    ['just-base64-without-id', /entry 1 is not keyId:base64/],
    [':' + b64(), /entry 1: key id/],
    ['bad id!:' + b64(), /entry 1: key id/],
    ['k1:not base64 at all!', /key k1: key is not base64/],
    ['k1:' + b64(16), /key k1 must be 32 bytes, got 16/],
    ['k1:' + b64(33), /key k1 must be 32 bytes, got 33/],
    [`k1:${b64()},k1:${b64()}`, /key id k1 is listed twice/],
  ])('refuses %j with a clear error', (spec, message) => {
    expect(() => parseMasterKeys(spec)).toThrow(MasterKeyError);
    expect(() => parseMasterKeys(spec)).toThrow(message);
  });

  it('never echoes key material in an error', () => {
    const secret = b64(31);
    const err = (() => {
      try {
        parseMasterKeys(`k1:${secret}`);
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(err?.message).toBeDefined();
    expect(err?.message).not.toContain(secret);
  });

  it('refuses an empty ring or a short typed key', () => {
    expect(() => new MasterKeyRing([])).toThrow(/at least one master key/);
    expect(() => new MasterKeyRing([{ keyId: 'k', key: randomBytes(8) }])).toThrow(/32 bytes/);
  });
});
