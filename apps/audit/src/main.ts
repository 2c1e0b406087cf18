import { natsTlsOf } from '@otesse/config';
import { runMain } from '@otesse/runtime';
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
      databaseUrl: env.DATABASE_URL,
      migrationsDatabaseUrl: env.MIGRATIONS_DATABASE_URL,
      migrateOnStart: env.MIGRATE_ON_START,
      natsUrl: env.NATS_URL,
      natsUser: env.NATS_USER,
      natsPassword: env.NATS_PASSWORD,
      natsTls: natsTlsOf(env),
      natsStreamReplicas: env.NATS_STREAM_REPLICAS,
      logger,
      healthPort: env.HEALTH_PORT,
      healthHost: env.HEALTH_HOST,
      databasePoolMax: env.DATABASE_POOL_MAX,
    }),
});
