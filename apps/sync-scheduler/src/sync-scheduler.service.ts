import { loadCatalogue } from '@otesse/providers';
import {
  runService,
  startPeriodicTask,
  type TIdempotencyRecordSettings,
  type TRunningService,
  processOptions,
  type TServiceProcessConfig,
} from '@otesse/runtime';
import { consumeWebhookDeliveries } from './consumers/webhook-deliveries.consumer';
import { syncSchedulerOrmConfig } from './db/orm.config';
import { engineConfig, SyncEngine, type TSyncEngineConfig } from './engine/sync-engine';
import { forgetIdempotencyRecordsHandler } from './handlers/forget-idempotency-records.handler';
import { countReferencesHandler } from './handlers/count-references.handler';
import { createDefaultJobsHandler } from './handlers/create-default-jobs.handler';
import { disableJobsForConnectionHandler } from './handlers/disable-jobs-for-connection.handler';
import { engineStatsHandler } from './handlers/engine-stats.handler';
import { eraseInstanceDataHandler } from './handlers/erase-instance-data.handler';
import { getExecutionHandler } from './handlers/get-execution.handler';
import { instanceDataSummaryHandler } from './handlers/instance-data-summary.handler';
import { listExecutionsHandler } from './handlers/list-executions.handler';
import { listJobsHandler } from './handlers/list-jobs.handler';
import { listMappingsHandler } from './handlers/list-mappings.handler';
import { markReferencesStaleHandler } from './handlers/mark-references-stale.handler';
import { overviewJobsHandler } from './handlers/overview-jobs.handler';
import { reenableJobsForSagaHandler } from './handlers/reenable-jobs-for-saga.handler';
import { runJobNowHandler } from './handlers/run-job-now.handler';
import { setJobEnabledHandler } from './handlers/set-job-enabled.handler';
import { summarizeConnectionHandler } from './handlers/summarize-connection.handler';
import { SYNC_SCHEMA_NAME } from './sync-job.rows';
import {
  purgeOldExecutions,
  SYNC_EXECUTION_PURGE_INTERVAL_MS,
  SYNC_EXECUTION_RETENTION_DAYS,
} from './housekeeping/purge-old-executions';

export interface TSyncSchedulerConfig extends TServiceProcessConfig {
  /** How long records of keys that are not a saga's are kept, and how often they are purged. */
  idempotencyRecords?: TIdempotencyRecordSettings | undefined;
  /** Catalogue overrides (PROVIDERS_FILE): where each provider's data API is. */
  providersFile?: string | undefined;
  /**
   * How long ended executions are kept and how often this replica deletes older ones (default 90 days, hourly;
   * `purgeIntervalMs: 0`: never).
   */
  executionRetention?: { days?: number; purgeIntervalMs?: number } | undefined;
  /** Claims, leases, batches; tests make them small. `{ enabled: false }` serves the endpoints only. */
  engine?: Partial<TSyncEngineConfig>;
}

export interface TRunningSyncScheduler extends TRunningService {
  engine: SyncEngine;
}

/**
 * The sync scheduler: owns sync jobs, their executions, external references, synced records and field mappings, and
 * runs the jobs (engine/sync-engine.ts) — any number of replicas, each claiming due jobs with SKIP LOCKED.
 */
export async function startSyncScheduler(
  cfg: TSyncSchedulerConfig,
): Promise<TRunningSyncScheduler> {
  const catalogue = loadCatalogue({ providersFile: cfg.providersFile });
  const settings = engineConfig(cfg.engine);
  let engine: SyncEngine | undefined;
  const svc = await runService({
    name: 'sync-scheduler',
    version: '0.2.0',
    prefix: 'sync-scheduler',
    orm: { ...syncSchedulerOrmConfig(cfg.databaseUrl), poolMax: cfg.databasePoolMax },
    ...processOptions(cfg, '_INBOX_sync_scheduler'),
    idempotencyRecords: { schema: SYNC_SCHEMA_NAME, ...cfg.idempotencyRecords },
    // It consumes accepted webhook deliveries from INTEGRATIONS, which may start before the connection service.
    streams: ['WEBHOOKS'],
    handlers: ({ orm, nc, bus, logger }) => {
      engine = new SyncEngine(
        { knex: orm.em.getConnection().getKnex(), nc, bus, catalogue, logger },
        settings,
      );
      const deps = { orm, nc, bus, engine, logger };
      return {
        'sync-scheduler.jobs.create-defaults': createDefaultJobsHandler(orm),
        'sync-scheduler.jobs.list': listJobsHandler(orm),
        'sync-scheduler.references.count': countReferencesHandler(orm),
        'sync-scheduler.mappings.list': listMappingsHandler(orm),
        'sync-scheduler.connections.summary': summarizeConnectionHandler(orm),
        'sync-scheduler.jobs.disable-for-connection': disableJobsForConnectionHandler(deps),
        'sync-scheduler.jobs.reenable-for-saga': reenableJobsForSagaHandler(deps),
        'sync-scheduler.references.mark-stale': markReferencesStaleHandler(orm),
        'sync-scheduler.jobs.overview': overviewJobsHandler(orm),
        'sync-scheduler.jobs.set-enabled': setJobEnabledHandler(deps),
        'sync-scheduler.jobs.run-now': runJobNowHandler(deps),
        'sync-scheduler.executions.list': listExecutionsHandler(orm),
        'sync-scheduler.executions.get': getExecutionHandler(orm),
        'sync-scheduler.engine.stats': engineStatsHandler(engine),
        'sync-scheduler.instances.data-summary': instanceDataSummaryHandler(orm),
        'sync-scheduler.instances.erase-data': eraseInstanceDataHandler(orm),
        'sync-scheduler.idempotency-records.forget': forgetIdempotencyRecordsHandler(orm),
      };
    },
    onStart: async ({ nc, orm, logger }) => {
      const started = engine as SyncEngine;
      const retentionDays = cfg.executionRetention?.days ?? SYNC_EXECUTION_RETENTION_DAYS;
      const purgeEvery =
        cfg.executionRetention?.purgeIntervalMs ?? SYNC_EXECUTION_PURGE_INTERVAL_MS;
      const purge =
        purgeEvery > 0
          ? startPeriodicTask({
              what: 'deleting old sync executions',
              delayMs: purgeEvery,
              logger,
              run: async (task) => {
                const deleted = await purgeOldExecutions(
                  orm.em.getConnection().getKnex(),
                  retentionDays,
                  task,
                );
                if (deleted > 0)
                  logger.info({ deleted, retentionDays }, 'old sync executions deleted');
              },
            })
          : undefined;
      started.start();
      const webhooks = await consumeWebhookDeliveries({ nc, orm, engine: started, logger }).catch(
        async (e: unknown) => {
          // A start that fails here (JetStream refused, say) must not leave the engine's loop behind.
          await started.stop();
          await purge?.stop();
          throw e;
        },
      );
      return async () => {
        // No new run requests first; then the runners finish their batches and release their leases.
        await webhooks.stop();
        await started.stop();
        await purge?.stop();
      };
    },
  });
  return Object.assign(svc, { engine: engine as SyncEngine });
}
