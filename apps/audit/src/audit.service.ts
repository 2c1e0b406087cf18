import { migrateSchema, urlForRole } from '@otesse/persistence';
import {
  runService,
  type TRunningService,
  processOptions,
  type TServiceProcessConfig,
} from '@otesse/runtime';
import { startAuditWriter, type TAuditWriterOptions } from './audit-writer';
import { AUDIT_SCHEMA, auditOrmConfig } from './db/orm.config';
import { listEntriesHandler } from './handlers/list-entries.handler';
import { verifyChainHandler } from './handlers/verify-chain.handler';

export { AUDIT_DURABLE } from './audit-writer';

export interface TAuditConfig extends TServiceProcessConfig {
  /** The runtime role (`otesse_audit`): SELECT/INSERT on entries, no UPDATE/DELETE. */
  databaseUrl: string;
  /**
   * The schema owner (`otesse_audit_owner`), used only to run migrations before the service starts.
   * Default: DATABASE_URL as the owner role, without a password.
   */
  migrationsDatabaseUrl?: string | undefined;
  writer?: TAuditWriterOptions;
}

/** The audit service: writes the AUDIT stream into a per-org hash chain and answers queries over NATS. */
export async function startAudit(cfg: TAuditConfig): Promise<TRunningService> {
  return runService({
    name: 'audit',
    version: '0.1.0',
    prefix: 'audit',
    // As the owner first: runService's own pass as the runtime role then finds nothing pending.
    migrateFirst: () => migrateAudit(cfg),
    orm: { ...auditOrmConfig(cfg.databaseUrl), poolMax: cfg.databasePoolMax },
    ...processOptions(cfg, '_INBOX_audit'),
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
