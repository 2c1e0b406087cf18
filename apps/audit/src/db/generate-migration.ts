// Usage: npx tsx apps/audit/src/db/generate-migration.ts [name]   (needs a superuser DATABASE_URL)
import pg from 'pg';
import { generateMigration, pgClientConfig, urlForDatabase } from '@otesse/persistence';
import { AUDIT_SCHEMA, MIGRATIONS_PATH, auditOrmConfig } from './orm.config';

const adminUrl = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
// The scratch database is provisioned for the owner role only; the grant migration names the runtime role,
// which is cluster-wide: make sure it exists.
const admin = new pg.Client(pgClientConfig(urlForDatabase(adminUrl, 'postgres')));
await admin.connect();
try {
  const found = await admin.query('select 1 from pg_roles where rolname = $1', [AUDIT_SCHEMA.role]);
  if (found.rowCount === 0) await admin.query(`create role "${AUDIT_SCHEMA.role}" login`);
} finally {
  await admin.end();
}
const { url: _url, ...cfg } = auditOrmConfig('');
const file = await generateMigration({
  adminUrl,
  cfg,
  role: AUDIT_SCHEMA.ownerRole,
  migrationsPath: MIGRATIONS_PATH,
  ...(process.argv[2] ? { name: process.argv[2] } : {}),
});
console.log(file ? `created ${file}` : 'no changes');
