import { runMain, serviceConfigFromEnv } from '@otesse/runtime';
import { migrateAudit, startAudit } from './audit.service';
import { ZAuditEnv } from './env.schema';

await runMain({
  name: 'audit',
  env: ZAuditEnv,
  migrate: (env) =>
    migrateAudit({
      databaseUrl: env.DATABASE_URL,
      migrationsDatabaseUrl: env.MIGRATIONS_DATABASE_URL,
    }),
  start: (env, logger) =>
    startAudit({
      ...serviceConfigFromEnv(env, logger),
      migrationsDatabaseUrl: env.MIGRATIONS_DATABASE_URL,
    }),
});
