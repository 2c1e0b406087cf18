import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';

/** The libpq `sslmode`s a driver without fallback can honour, weakest first. */
export const SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;
export type TSslMode = (typeof SSL_MODES)[number];

/** What `pg` connects with: the URL without its TLS parameters, and the TLS options they meant. */
export interface TPostgresConnection {
  /** DATABASE_URL without `sslmode`, `sslrootcert`, `sslcert`, `sslkey` (nothing else is changed). */
  url: string;
  /** `false`: plaintext. Otherwise what `tls.connect` gets; the files are already read. */
  ssl: false | ConnectionOptions;
  sslMode: TSslMode;
}

/** A DATABASE_URL whose TLS parameters cannot be honoured: the process must not start (never a silent downgrade). */
export class DatabaseTlsConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(`DATABASE_URL: ${message}`, options);
    this.name = 'DatabaseTlsConfigError';
  }
}

const TLS_PARAMS = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey'] as const;

function readPem(param: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new DatabaseTlsConfigError(
      `${param}=${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      { cause: e },
    );
  }
}

/**
 * Reads the libpq TLS parameters of a Postgres URL, as `psql` and every libpq client understand them, and turns
 * them into the driver's TLS options. MikroORM builds its connection from the URL's host, port, user, password and
 * database only, and `pg`'s own parsing treats `require` as `verify-full`: both would silently change what an
 * operator asked for, so every process resolves them here, once.
 *
 * - `disable` (the default when no parameter is given): plaintext.
 * - `require`: encrypted, the server's certificate not checked — unless `sslrootcert` is given, which makes it
 *   `verify-ca` (libpq does the same).
 * - `verify-ca`: the certificate must chain to `sslrootcert` (or the system's CAs); the host name is not checked.
 * - `verify-full`: `verify-ca`, and the certificate must name the host. `sslrootcert=system` uses the system's CAs.
 * - `sslcert` + `sslkey`: a client certificate (for `hostssl … cert` lines in pg_hba.conf).
 * - `prefer` and `allow` are refused: they fall back to plaintext when TLS fails, which the driver cannot do and
 *   an operator asking for TLS does not want.
 */
export function postgresConnection(databaseUrl: string): TPostgresConnection {
  const u = new URL(databaseUrl);
  const p = Object.fromEntries(
    TLS_PARAMS.map((k) => [k, u.searchParams.get(k) ?? undefined]),
  ) as Record<(typeof TLS_PARAMS)[number], string | undefined>;
  for (const k of TLS_PARAMS) u.searchParams.delete(k);
  const url = u.toString();

  const requested = p.sslmode ?? (p.sslrootcert || p.sslcert ? 'verify-full' : 'disable');
  if (requested === 'prefer' || requested === 'allow') {
    throw new DatabaseTlsConfigError(
      `sslmode=${requested} falls back to plaintext, which is never done here: use require, verify-ca or ` +
        'verify-full (with sslrootcert), or disable',
    );
  }
  if (!(SSL_MODES as readonly string[]).includes(requested)) {
    throw new DatabaseTlsConfigError(`sslmode=${requested} is not one of ${SSL_MODES.join(', ')}`);
  }
  if (Boolean(p.sslcert) !== Boolean(p.sslkey)) {
    throw new DatabaseTlsConfigError(
      'sslcert and sslkey go together (a client certificate and its key)',
    );
  }
  let mode = requested as TSslMode;
  if (mode === 'disable') {
    if (p.sslrootcert || p.sslcert) {
      throw new DatabaseTlsConfigError('sslmode=disable with certificates: say which one is meant');
    }
    return { url, ssl: false, sslMode: mode };
  }
  // libpq: `require` with a root certificate verifies the chain.
  if (mode === 'require' && p.sslrootcert) mode = 'verify-ca';

  const ssl: ConnectionOptions = { rejectUnauthorized: mode !== 'require' };
  if (p.sslrootcert && p.sslrootcert !== 'system') ssl.ca = readPem('sslrootcert', p.sslrootcert);
  if (p.sslcert && p.sslkey) {
    ssl.cert = readPem('sslcert', p.sslcert);
    ssl.key = readPem('sslkey', p.sslkey);
  }
  // verify-ca: the chain, not the name (a certificate issued to the server's other name is accepted).
  if (mode === 'verify-ca') ssl.checkServerIdentity = () => undefined;
  return { url, ssl, sslMode: mode };
}

/** `pg.Client` / `pg.Pool` options for a Postgres URL, its TLS parameters honoured (`postgresConnection`). */
export function pgClientConfig(databaseUrl: string): {
  connectionString: string;
  ssl: false | ConnectionOptions;
} {
  const c = postgresConnection(databaseUrl);
  return { connectionString: c.url, ssl: c.ssl };
}
