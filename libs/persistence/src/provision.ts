import pg from 'pg';
import { databaseName, redactUrl, urlForDatabase } from './database-url';
import { pgClientConfig } from './database-tls';

export interface TServiceSchema {
  /** Postgres schema the service owns (`vault`, `connection`…). */
  schema: string;
  /** The role the service runs as; it owns the schema and runs its migrations unless `ownerRole` is set. */
  role: string;
  password?: string | undefined;
  /**
   * When set, this role owns the schema and runs the migrations, and `role` only gets USAGE on the schema plus
   * what the migrations grant it (append-only services: the runtime role must not own its tables).
   */
  ownerRole?: string | undefined;
  ownerPassword?: string | undefined;
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;
function ident(name: string): string {
  if (!IDENT.test(name)) throw new Error(`not a safe SQL identifier: ${name}`);
  return `"${name}"`;
}
function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * Error an operator can act on: which server, what it said, and how to start it when nothing listens there. A
 * server that answered but refused (pg_hba.conf, a certificate, a password) is named as such: no restart helps.
 */
export class DatabaseUnreachableError extends Error {
  constructor(url: string, cause: unknown) {
    const code = (cause as { code?: string }).code;
    const network = code !== undefined && /^E[A-Z]+$/.test(code);
    super(
      (network
        ? `PostgreSQL is not reachable at ${redactUrl(url)}`
        : `PostgreSQL at ${redactUrl(url)} refused this process`) +
        ` (${(cause as Error).message})` +
        (code === 'ECONNREFUSED'
          ? '. Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start (or set DATABASE_URL)'
          : ''),
      { cause },
    );
    this.name = 'DatabaseUnreachableError';
  }
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(pgClientConfig(url));
  try {
    await client.connect();
  } catch (e) {
    throw new DatabaseUnreachableError(url, e);
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Concurrent provisioners (parallel test workers) race on cluster-wide roles: "already exists" is success. */
async function tolerateExists(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code !== '42710' && code !== '23505' && code !== '42P06' && code !== '42P04') throw e;
  }
}

/**
 * Creates the database (when missing), one role per service and one schema per service owned by that role.
 * Needs a superuser (or CREATEROLE + CREATEDB) URL; services themselves never run with it.
 */
export async function provisionDatabase(
  adminUrl: string,
  services: TServiceSchema[],
): Promise<void> {
  const db = databaseName(adminUrl);
  await withClient(urlForDatabase(adminUrl, 'postgres'), async (c) => {
    const exists = await c.query('select 1 from pg_database where datname = $1', [db]);
    if (exists.rowCount === 0) await tolerateExists(c.query(`create database ${ident(db)}`));
    const logins = services.flatMap((s) => [
      { role: s.role, password: s.password },
      ...(s.ownerRole ? [{ role: s.ownerRole, password: s.ownerPassword }] : []),
    ]);
    for (const s of logins) {
      const role = await c.query('select 1 from pg_roles where rolname = $1', [s.role]);
      const pw = s.password ? ` password ${literal(s.password)}` : '';
      if (role.rowCount === 0)
        await tolerateExists(c.query(`create role ${ident(s.role)} login${pw}`));
      else if (s.password)
        await c.query(`alter role ${ident(s.role)} password ${literal(s.password)}`);
    }
  });
  await withClient(adminUrl, async (c) => {
    // Only the service roles (and the admin) may connect; nobody gets the public schema.
    await c.query(`revoke all on database ${ident(db)} from public`);
    await c.query('revoke create on schema public from public');
    for (const s of services) {
      const owner = s.ownerRole ?? s.role;
      for (const r of new Set([s.role, owner])) {
        await c.query(`grant connect, temporary on database ${ident(db)} to ${ident(r)}`);
        await c.query(
          `alter role ${ident(r)} in database ${ident(db)} set search_path = ${ident(s.schema)}`,
        );
      }
      await tolerateExists(
        c.query(`create schema if not exists ${ident(s.schema)} authorization ${ident(owner)}`),
      );
      await c.query(`alter schema ${ident(s.schema)} owner to ${ident(owner)}`);
      if (owner !== s.role) {
        // A database provisioned before the split has the runtime role owning the tables: hand them over, so
        // the owner can migrate and the runtime role keeps only what the migrations grant it.
        await c.query(`reassign owned by ${ident(s.role)} to ${ident(owner)}`);
        await c.query(`grant usage on schema ${ident(s.schema)} to ${ident(s.role)}`);
      }
    }
  });
}

/** Drops a database (tests), terminating its sessions first. */
export async function dropDatabase(adminUrl: string): Promise<void> {
  const db = databaseName(adminUrl);
  await withClient(urlForDatabase(adminUrl, 'postgres'), async (c) => {
    await c.query(`drop database if exists ${ident(db)} with (force)`);
  });
}

/** Throws DatabaseUnreachableError when Postgres cannot be reached. */
export async function assertDatabaseReachable(url: string): Promise<void> {
  await withClient(urlForDatabase(url, 'postgres'), async (c) => {
    await c.query('select 1');
  });
}
