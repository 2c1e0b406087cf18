import { randomBytes } from 'node:crypto';
import pg from 'pg';
import {
  dropDatabase,
  pgClientConfig,
  migrationRoleOf,
  provisionDatabase,
  SERVICE_SCHEMAS,
  urlForDatabase,
  urlForRole,
  type TServiceName,
} from '@otesse/persistence';

export const TEST_ADMIN_URL =
  process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TTestDatabase {
  name: string;
  /** Superuser URL of the fresh database (for assertions that look across schemas). */
  adminUrl: string;
  /** URL for a service's own role. */
  urlFor(service: TServiceName): string;
  /** URL for the role that owns a service's schema and runs its migrations (= `urlFor` unless split). */
  migrationsUrlFor(service: TServiceName): string;
  /** Runs SQL as the superuser. */
  query<R extends pg.QueryResultRow = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
  ): Promise<R[]>;
  drop(): Promise<void>;
}

/**
 * A fresh database with every service's schema and role: each test file gets its own. `serverAdminUrl`: another
 * server's superuser URL (a `startPrivatePostgres`), its TLS parameters kept in every URL handed out.
 */
export async function createTestDatabase(
  prefix = 'otesse_t',
  serverAdminUrl = TEST_ADMIN_URL,
): Promise<TTestDatabase> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const adminUrl = urlForDatabase(serverAdminUrl, name);
  await provisionDatabase(adminUrl, Object.values(SERVICE_SCHEMAS));
  const pool = new pg.Pool({ ...pgClientConfig(adminUrl), max: 2 });
  // Dropping the database terminates idle sessions: that is expected, not a test failure.
  pool.on('error', () => undefined);
  return {
    name,
    adminUrl,
    urlFor: (service) => urlForRole(adminUrl, SERVICE_SCHEMAS[service].role),
    migrationsUrlFor: (service) => urlForRole(adminUrl, migrationRoleOf(service)),
    query: async (sql, params) => (await pool.query(sql, params)).rows,
    drop: async () => {
      await pool.end();
      await dropDatabase(adminUrl);
    },
  };
}

/**
 * What a service's schema holds besides MikroORM's migrations table: its relations (tables, views, indexes,
 * sequences) and its functions, each sorted. Migration tests compare it before and after down() / up().
 */
export async function schemaObjects(
  db: Pick<TTestDatabase, 'query'>,
  schema: string,
): Promise<{ relations: string[]; functions: string[] }> {
  const [relations, functions] = await Promise.all([
    db.query<{ name: string }>(
      `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = $1 and c.relname not like 'mikro_orm_migrations%' order by 1`,
      [schema],
    ),
    db.query<{ name: string }>(
      `select p.proname as name from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = $1 order by 1`,
      [schema],
    ),
  ]);
  return { relations: relations.map((r) => r.name), functions: functions.map((r) => r.name) };
}
