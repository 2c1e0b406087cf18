import { MikroORM, type EntitySchema, type Options } from '@mikro-orm/postgresql';
import { Migrator, type Migration } from '@mikro-orm/migrations';
import type { Constructor } from '@mikro-orm/core';
import type { Logger } from '@otesse/logging';
import { DatabaseUnreachableError } from './provision';
import { postgresConnection } from './database-tls';

export interface TOrmConfig {
  /** The service's own role URL. */
  url: string;
  /** The Postgres schema the service owns. */
  schema: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- heterogeneous entity list
  entities: EntitySchema<any, any>[];
  migrations: { name: string; class: Constructor<Migration> }[];
  /** Folder generated migrations are written to (generation only). */
  migrationsPath?: string;
  /** Most connections the pool opens (DATABASE_POOL_MAX); default 10. */
  poolMax?: number | undefined;
  debug?: boolean;
  /** Where knex's own messages go (a lost connection, say); unset: knex writes them to the console. */
  logger?: Logger | undefined;
}

export function ormOptions(cfg: TOrmConfig): Options {
  // MikroORM reads only host, port, user, password and database from the URL: its TLS parameters go in here.
  const { url, ssl } = postgresConnection(cfg.url);
  return {
    clientUrl: url,
    schema: cfg.schema,
    entities: cfg.entities,
    extensions: [Migrator],
    discovery: { warnWhenNoEntities: false },
    allowGlobalContext: false,
    debug: cfg.debug ?? false,
    pool: { min: 0, max: cfg.poolMax ?? 10 },
    driverOptions: {
      connection: { ssl },
      ...(cfg.logger ? { log: knexLog(cfg.logger) } : {}),
    },
    migrations: {
      tableName: 'mikro_orm_migrations',
      silent: true,
      transactional: true,
      allOrNothing: true,
      snapshot: false,
      emit: 'ts',
      ...(cfg.migrationsPath ? { path: cfg.migrationsPath, pathTs: cfg.migrationsPath } : {}),
      migrationsList: cfg.migrations,
    },
  };
}

/**
 * knex's log, as structured lines of the service's logger: a dropped connection ("Connection Error: …") is a warning
 * an operator's log pipeline must be able to read. Its messages carry no statement values.
 */
function knexLog(logger: Logger) {
  const log = logger.child({ component: 'knex' });
  return {
    warn: (m: unknown) => log.warn(String(m)),
    error: (m: unknown) => log.error(String(m)),
    deprecate: (m: unknown) => log.warn(String(m)),
    debug: (m: unknown) => log.debug(String(m)),
  };
}

/** Opens the ORM; fails with a message naming where Postgres was looked for. */
export async function openOrm(cfg: TOrmConfig): Promise<MikroORM> {
  try {
    const orm = await MikroORM.init(ormOptions(cfg));
    await orm.em.getConnection().execute('select 1');
    return orm;
  } catch (e) {
    // A driver's or server's refusal has a code (ECONNREFUSED, 28000, SELF_SIGNED_CERT_IN_CHAIN…); a mistake in
    // the ORM's own configuration has none and is thrown as it is.
    if (typeof (e as { code?: unknown }).code === 'string')
      throw new DatabaseUnreachableError(cfg.url, e);
    throw e;
  }
}

/**
 * Runs pending migrations under an advisory lock, so replicas starting together migrate once.
 * Returns the names of the migrations applied.
 */
export async function migrateUp(orm: MikroORM, schema: string): Promise<string[]> {
  const conn = orm.em.getConnection();
  const knex = conn.getKnex();
  return knex.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [`otesse:migrate:${schema}`]);
    const applied = await orm.getMigrator().up();
    return applied.map((m) => m.name);
  });
}

/** Opens `cfg` just to migrate its schema, then closes it: the owner's pass, or `main migrate`. */
export async function migrateSchema(cfg: TOrmConfig): Promise<string[]> {
  const orm = await openOrm(cfg);
  try {
    return await migrateUp(orm, cfg.schema);
  } finally {
    await orm.close(true);
  }
}

/**
 * The migrations of `cfg` that the database has not applied yet. Changes nothing: a schema never migrated has no
 * migrations table, which the migrator would create (and a runtime role may not) — there, every one is pending.
 */
export async function pendingMigrations(orm: MikroORM, cfg: TOrmConfig): Promise<string[]> {
  const [row] = await orm.em
    .getConnection()
    .execute<{ found: boolean }[]>(`select to_regclass(?) is not null as found`, [
      `"${cfg.schema}".mikro_orm_migrations`,
    ]);
  if (!row?.found) return cfg.migrations.map((m) => m.name);
  return (await orm.getMigrator().getPendingMigrations()).map((m) => m.name);
}

export async function migrateDown(orm: MikroORM, to?: string): Promise<string[]> {
  const reverted = await orm.getMigrator().down(to === undefined ? undefined : { to });
  return reverted.map((m) => m.name);
}
