// Usage: npx tsx apps/credential-vault/src/db/migrate.ts [up|down]   (as the service's role: DATABASE_URL)
import { migrateDown, migrateUp, openOrm } from '@otesse/persistence';
import { VAULT_SCHEMA, vaultOrmConfig } from './orm.config';

const url = process.env['DATABASE_URL'] ?? 'postgres://otesse_vault@127.0.0.1:5432/otesse';
const orm = await openOrm(vaultOrmConfig(url));
try {
  const names =
    process.argv[2] === 'down' ? await migrateDown(orm) : await migrateUp(orm, VAULT_SCHEMA.schema);
  console.log(JSON.stringify({ [process.argv[2] === 'down' ? 'reverted' : 'applied']: names }));
} finally {
  await orm.close(true);
}
