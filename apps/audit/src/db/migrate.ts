// Usage: npx tsx apps/audit/src/db/migrate.ts [up|down]
// As the schema owner: MIGRATIONS_DATABASE_URL, else DATABASE_URL's server as otesse_audit_owner.
import { migrateDown, migrateUp, openOrm, urlForRole } from '@otesse/persistence';
import { AUDIT_SCHEMA, auditOrmConfig } from './orm.config';

const url =
  process.env['MIGRATIONS_DATABASE_URL'] ??
  urlForRole(
    process.env['DATABASE_URL'] ?? 'postgres://otesse_audit@127.0.0.1:5432/otesse',
    AUDIT_SCHEMA.ownerRole,
  );
const orm = await openOrm(auditOrmConfig(url));
try {
  const names =
    process.argv[2] === 'down' ? await migrateDown(orm) : await migrateUp(orm, AUDIT_SCHEMA.schema);
  console.log(JSON.stringify({ [process.argv[2] === 'down' ? 'reverted' : 'applied']: names }));
} finally {
  await orm.close(true);
}
