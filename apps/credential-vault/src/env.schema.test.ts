import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EnvError, parseEnv } from '@otesse/config';
import { ZVaultEnv } from './env.schema';

describe('vault env', () => {
  it('parses VAULT_MASTER_KEY into typed keys, first active', () => {
    const k = randomBytes(32).toString('base64');
    const env = parseEnv('credential-vault', ZVaultEnv, { VAULT_MASTER_KEY: `a:${k},b:${k}` });
    expect(env.VAULT_MASTER_KEY?.map((m) => m.keyId)).toEqual(['a', 'b']);
    expect(env.DATABASE_URL).toBe('postgres://otesse_vault@127.0.0.1:5432/otesse');
  });

  it('names the bad variable without echoing the key', () => {
    const short = randomBytes(20).toString('base64');
    let err: unknown;
    try {
      parseEnv('credential-vault', ZVaultEnv, { VAULT_MASTER_KEY: `a:${short}` });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EnvError);
    expect((err as Error).message).toMatch(/VAULT_MASTER_KEY: key a must be 32 bytes, got 20/);
    expect((err as Error).message).not.toContain(short);
  });

  it('requires VAULT_MASTER_KEY unless a throwaway local run opts into the development key (never in production)', () => {
    expect(() => parseEnv('credential-vault', ZVaultEnv, { NODE_ENV: 'production' })).toThrow(
      /VAULT_MASTER_KEY: is required in production/,
    );
    // Fail closed: neither NODE_ENV nor a key (a bundle run outside the images) is refused too.
    expect(() => parseEnv('credential-vault', ZVaultEnv, {})).toThrow(
      /VAULT_MASTER_KEY: is required .*VAULT_ALLOW_DEV_KEY=true/,
    );
    expect(
      parseEnv('credential-vault', ZVaultEnv, { VAULT_ALLOW_DEV_KEY: 'true' }).VAULT_MASTER_KEY,
    ).toBeUndefined();
    expect(() =>
      parseEnv('credential-vault', ZVaultEnv, {
        VAULT_ALLOW_DEV_KEY: 'true',
        NODE_ENV: 'production',
      }),
    ).toThrow(/VAULT_MASTER_KEY: is required in production/);
    expect(() => parseEnv('credential-vault', ZVaultEnv, { VAULT_ALLOW_DEV_KEY: 'yes' })).toThrow(
      /VAULT_ALLOW_DEV_KEY/,
    );
  });

  it("takes compose's empty PROVIDERS_FILE as unset (the built-in catalogue)", () => {
    expect(
      parseEnv('credential-vault', ZVaultEnv, { PROVIDERS_FILE: '', VAULT_ALLOW_DEV_KEY: 'true' })
        .PROVIDERS_FILE,
    ).toBe(undefined);
  });
});
