import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { natsTlsOf, ZServiceEnv } from './common-env.schema';
import { EnvError, parseEnv } from './env';

describe('ZServiceEnv', () => {
  it('defaults the health server to loopback and the ORM pool to 10', () => {
    const env = parseEnv('svc', ZServiceEnv, {});
    expect(env).toMatchObject({ HEALTH_HOST: '127.0.0.1', DATABASE_POOL_MAX: 10 });
    expect(env.HEALTH_PORT).toBeUndefined();
  });

  it('reads HEALTH_HOST and DATABASE_POOL_MAX', () => {
    expect(
      parseEnv('svc', ZServiceEnv, {
        HEALTH_HOST: '0.0.0.0',
        HEALTH_PORT: '8081',
        DATABASE_POOL_MAX: '4',
      }),
    ).toMatchObject({ HEALTH_HOST: '0.0.0.0', HEALTH_PORT: 8081, DATABASE_POOL_MAX: 4 });
  });

  it('refuses a pool of one connection (the migrations need two) and an empty host, naming both', () => {
    const err = (() => {
      try {
        parseEnv('svc', ZServiceEnv, { HEALTH_HOST: ' ', DATABASE_POOL_MAX: '1' });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(EnvError);
    expect((err as EnvError).message).toMatch(/HEALTH_HOST/);
    expect((err as EnvError).message).toMatch(/DATABASE_POOL_MAX/);
  });
});

describe('ZServiceEnv: TLS to NATS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'otesse-env-tls-'));
  const ca = join(dir, 'ca.pem');
  writeFileSync(ca, 'CA');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const failure = (source: Record<string, string>): string => {
    try {
      natsTlsOf(parseEnv('svc', ZServiceEnv, source));
    } catch (e) {
      expect(e).toBeInstanceOf(EnvError);
      return (e as Error).message;
    }
    throw new Error('accepted');
  };

  it('is plaintext unless asked for; empty values are unset', () => {
    expect(natsTlsOf(parseEnv('svc', ZServiceEnv, {}))).toBeUndefined();
    expect(natsTlsOf(parseEnv('svc', ZServiceEnv, { NATS_TLS_CA_FILE: '' }))).toBeUndefined();
    expect(natsTlsOf(parseEnv('svc', ZServiceEnv, { NATS_TLS: 'true' }))).toEqual({});
    expect(
      natsTlsOf(
        parseEnv('svc', ZServiceEnv, {
          NATS_TLS_CA_FILE: ca,
          NATS_TLS_CERT_FILE: ca,
          NATS_TLS_KEY_FILE: ca,
        }),
      ),
    ).toEqual({ caFile: ca, certFile: ca, keyFile: ca });
  });

  it('refuses a file it cannot read, half a client certificate and a contradiction, naming each', () => {
    expect(failure({ NATS_TLS_CA_FILE: join(dir, 'missing.pem') })).toMatch(
      /NATS_TLS_CA_FILE: cannot be read by this process/,
    );
    expect(failure({ NATS_TLS_CERT_FILE: ca })).toMatch(
      /NATS_TLS_KEY_FILE: NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE go together/,
    );
    expect(failure({ NATS_TLS: 'false', NATS_TLS_CA_FILE: ca })).toMatch(
      /NATS_TLS: NATS_TLS=false with NATS_TLS_\* files set/,
    );
    expect(failure({ NATS_TLS: 'yes' })).toMatch(/NATS_TLS:/);
  });
});
