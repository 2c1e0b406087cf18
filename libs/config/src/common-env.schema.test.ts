import { describe, expect, it } from 'vitest';
import { ZServiceEnv } from './common-env.schema';
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

  it('refuses a pool of no connections and an empty host, naming both', () => {
    const err = (() => {
      try {
        parseEnv('svc', ZServiceEnv, { HEALTH_HOST: ' ', DATABASE_POOL_MAX: '0' });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(EnvError);
    expect((err as EnvError).message).toMatch(/HEALTH_HOST/);
    expect((err as EnvError).message).toMatch(/DATABASE_POOL_MAX/);
  });
});
