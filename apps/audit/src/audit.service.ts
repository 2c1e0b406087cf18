import type { TNatsTls } from '@otesse/messaging';
import type { Logger } from '@otesse/logging';
import { migrateSchema, urlForRole } from '@otesse/persistence';
import { runService, type TRunningService } from '@otesse/runtime';
import { startAuditWriter, type TAuditWriterOptions } from './audit-writer';
import { AUDIT_SCHEMA, auditOrmConfig } from './db/orm.config';
import { listEntriesHandler } from './handlers/list-entries.handler';
import { verifyChainHandler } from './handlers/verify-chain.handler';

export { AUDIT_DURABLE } from './audit-writer';

export interface TAuditConfig {
  /** The runtime role (`otesse_audit`): SELECT/INSERT on entries, no UPDATE/DELETE. */
  databaseUrl: string;
  /**
   * The schema owner (`otesse_audit_owner`), used only to run migrations before the service starts.
   * Default: DATABASE_URL as the owner role, without a password.
   */
  migrationsDatabaseUrl?: string | undefined;
  natsUrl: string;
  natsUser?: string | undefined;
  natsPassword?: string | undefined;
  /** TLS to NATS (NATS_TLS*): undefined is plaintext. */
  natsTls?: TNatsTls | undefined;
  /** JetStream replicas of the streams it creates (NATS_STREAM_REPLICAS). */
  natsStreamReplicas?: number | undefined;
  logLevel?: string;
  logger?: Logger;
  healthPort?: number | undefined;
  /** The health server's interface (HEALTH_HOST); default loopback. */
  healthHost?: string | undefined;
  /** The ORM pool's size (DATABASE_POOL_MAX); default 10. */
  databasePoolMax?: number | undefined;
  writer?: TAuditWriterOptions;
  /** MIGRATE_ON_START (default true): false only checks that nothing is pending (TRunServiceOptions). */
  migrateOnStart?: boolean | undefined;
}

/** The audit service: writes the AUDIT stream into a per-org hash chain and answers queries over NATS. */
export async function startAudit(cfg: TAuditConfig): Promise<TRunningService> {
  return runService({
    name: 'audit',
    version: '0.1.0',
    prefix: 'audit',
    // As the owner first: runService's own pass as the runtime role then finds nothing pending.
    migrateFirst: () => migrateAudit(cfg),
    migrateOnStart: cfg.migrateOnStart,
    orm: { ...auditOrmConfig(cfg.databaseUrl), poolMax: cfg.databasePoolMax },
    nats: {
      url: cfg.natsUrl,
      user: cfg.natsUser,
      password: cfg.natsPassword,
      tls: cfg.natsTls,
      streamReplicas: cfg.natsStreamReplicas,
      inboxPrefix: '_INBOX_audit',
    },
    ...(cfg.logLevel ? { logLevel: cfg.logLevel } : {}),
    ...(cfg.logger ? { logger: cfg.logger } : {}),
    healthPort: cfg.healthPort,
    healthHost: cfg.healthHost,
    streams: ['AUDIT'],
    handlers: ({ orm }) => ({
      'audit.entries.list': listEntriesHandler(orm),
      'audit.chain.verify': verifyChainHandler(orm),
    }),
    onStart: async ({ nc, orm, logger }) => {
      const writer = await startAuditWriter(nc, orm, logger, cfg.writer);
      return () => writer.stop();
    },
  });
}

/** The audit schema's migrations, as its owner (what a start runs first; `main migrate`). */
export function migrateAudit(
  cfg: Pick<TAuditConfig, 'databaseUrl' | 'migrationsDatabaseUrl'>,
): Promise<string[]> {
  return migrateSchema(
    auditOrmConfig(
      cfg.migrationsDatabaseUrl ?? urlForRole(cfg.databaseUrl, AUDIT_SCHEMA.ownerRole),
    ),
  );
}
