// Usage: npx tsx apps/sync-scheduler/src/db/migrate.ts [up|down]   (as the service's role: DATABASE_URL)
import { migrateDown, migrateUp, openOrm } from '@otesse/persistence';
import { SYNC_SCHEMA, syncSchedulerOrmConfig } from './orm.config';

const url = process.env['DATABASE_URL'] ?? 'postgres://otesse_sync@127.0.0.1:5432/otesse';
const orm = await openOrm(syncSchedulerOrmConfig(url));
try {
  const names =
    process.argv[2] === 'down' ? await migrateDown(orm) : await migrateUp(orm, SYNC_SCHEMA.schema);
  console.log(JSON.stringify({ [process.argv[2] === 'down' ? 'reverted' : 'applied']: names }));
} finally {
  await orm.close(true);
}
