// Usage: npx tsx apps/connection/src/db/generate-migration.ts [name]   (needs a superuser DATABASE_URL)
import { generateMigration } from '@otesse/persistence';
import { CONNECTION_SCHEMA, MIGRATIONS_PATH, connectionOrmConfig } from './orm.config';

const adminUrl = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const { url: _url, ...cfg } = connectionOrmConfig('');
const file = await generateMigration({
  adminUrl,
  cfg,
  role: CONNECTION_SCHEMA.role,
  migrationsPath: MIGRATIONS_PATH,
  ...(process.argv[2] ? { name: process.argv[2] } : {}),
});
console.log(file ? `created ${file}` : 'no changes');
