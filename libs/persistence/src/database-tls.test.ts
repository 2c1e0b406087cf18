import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DatabaseTlsConfigError, pgClientConfig, postgresConnection } from './database-tls';

const dir = mkdtempSync(join(tmpdir(), 'otesse-db-tls-'));
const ca = join(dir, 'ca.pem');
const cert = join(dir, 'client.pem');
const key = join(dir, 'client.key');
writeFileSync(ca, 'CA PEM');
writeFileSync(cert, 'CERT PEM');
writeFileSync(key, 'KEY PEM');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = 'postgres://svc:pw@db.internal:5432/otesse';

describe('postgresConnection', () => {
  it('is plaintext when the URL asks for nothing, and changes nothing else of it', () => {
    const c = postgresConnection(`${base}?application_name=vault`);
    expect(c).toEqual({ url: `${base}?application_name=vault`, ssl: false, sslMode: 'disable' });
  });

  it('require: encrypted without checking the certificate', () => {
    const c = postgresConnection(`${base}?sslmode=require`);
    expect(c.url).toBe(base);
    expect(c.sslMode).toBe('require');
    expect(c.ssl).toEqual({ rejectUnauthorized: false });
  });

  it('require with a root certificate verifies the chain, as libpq does', () => {
    const c = postgresConnection(`${base}?sslmode=require&sslrootcert=${ca}`);
    expect(c.sslMode).toBe('verify-ca');
    expect(c.ssl).toMatchObject({ rejectUnauthorized: true, ca: 'CA PEM' });
  });

  it('verify-ca checks the chain but not the host name', () => {
    const c = postgresConnection(`${base}?sslmode=verify-ca&sslrootcert=${ca}`);
    const ssl = c.ssl as Exclude<typeof c.ssl, false>;
    expect(ssl.rejectUnauthorized).toBe(true);
    expect(ssl.checkServerIdentity?.('other.host', {} as never)).toBeUndefined();
  });

  it('verify-full checks the host name too, with the given CA, the system CAs, or a client certificate', () => {
    const full = postgresConnection(
      `${base}?sslmode=verify-full&sslrootcert=${ca}&sslcert=${cert}&sslkey=${key}`,
    );
    expect(full.url).toBe(base);
    expect(full.ssl).toEqual({
      rejectUnauthorized: true,
      ca: 'CA PEM',
      cert: 'CERT PEM',
      key: 'KEY PEM',
    });
    expect(postgresConnection(`${base}?sslmode=verify-full&sslrootcert=system`).ssl).toEqual({
      rejectUnauthorized: true,
    });
    // A root certificate alone means the operator wants it checked.
    expect(postgresConnection(`${base}?sslrootcert=${ca}`).sslMode).toBe('verify-full');
  });

  it('refuses what would fall back to plaintext or cannot be honoured, naming the parameter', () => {
    const refused = (url: string) => {
      try {
        postgresConnection(url);
      } catch (e) {
        expect(e).toBeInstanceOf(DatabaseTlsConfigError);
        return (e as Error).message;
      }
      throw new Error(`accepted ${url}`);
    };
    expect(refused(`${base}?sslmode=prefer`)).toMatch(/^DATABASE_URL: sslmode=prefer falls back/);
    expect(refused(`${base}?sslmode=allow`)).toMatch(/sslmode=allow/);
    expect(refused(`${base}?sslmode=on`)).toMatch(/sslmode=on is not one of disable, require/);
    expect(refused(`${base}?sslmode=verify-full&sslcert=${cert}`)).toMatch(/sslcert and sslkey/);
    expect(refused(`${base}?sslmode=disable&sslrootcert=${ca}`)).toMatch(
      /disable with certificates/,
    );
    expect(refused(`${base}?sslmode=verify-full&sslrootcert=${join(dir, 'missing.pem')}`)).toMatch(
      /sslrootcert=.*missing\.pem cannot be read \(ENOENT\)/,
    );
  });

  it('gives pg a connection string it cannot re-read TLS parameters from', () => {
    const c = pgClientConfig(`${base}?sslmode=require`);
    expect(c).toEqual({ connectionString: base, ssl: { rejectUnauthorized: false } });
  });
});
