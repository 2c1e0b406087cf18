import { loadCatalogue, type Catalogue } from '@otesse/providers';
import {
  runService,
  type TIdempotencyRecordSettings,
  type TRunningService,
  processOptions,
  type TServiceProcessConfig,
} from '@otesse/runtime';
import { connectionOrmConfig } from './db/orm.config';
import { forgetIdempotencyRecordsHandler } from './handlers/forget-idempotency-records.handler';
import { abandonConnectionHandler } from './handlers/abandon-connection.handler';
import { activateConnectionHandler } from './handlers/activate-connection.handler';
import { beginDisconnectHandler } from './handlers/begin-disconnect.handler';
import { cancelDisconnectHandler } from './handlers/cancel-disconnect.handler';
import { cancelUnlinkHandler } from './handlers/cancel-unlink.handler';
import { completeDisconnectHandler } from './handlers/complete-disconnect.handler';
import { completeReconnectHandler } from './handlers/complete-reconnect.handler';
import { configureInstanceHandler } from './handlers/configure-instance.handler';
import { countGrantHoldersHandler } from './handlers/count-grant-holders.handler';
import { createConnectionHandler } from './handlers/create-connection.handler';
import { getConnectionHandler } from './handlers/get-connection.handler';
import { consumeWebhookDeliveries } from './consumers/webhook-deliveries.consumer';
import { recordWebhookRefusalHandler } from './handlers/record-webhook-refusal.handler';
import { resolveWebhookEndpointHandler } from './handlers/resolve-webhook-endpoint.handler';
import { getInstanceHandler } from './handlers/get-instance.handler';
import { holdForUnlinkHandler } from './handlers/hold-for-unlink.handler';
import { listKeepersHandler } from './handlers/list-keepers.handler';
import { listMemberConnectionsHandler } from './handlers/list-member-connections.handler';
import { listDependentsHandler } from './handlers/list-dependents.handler';
import { listFromOptionsHandler } from './handlers/list-from-options.handler';
import { listIntegrationsHandler } from './handlers/list-integrations.handler';
import { lockConnectionHandler } from './handlers/lock-connection.handler';
import { markRefreshExpiredHandler } from './handlers/mark-refresh-expired.handler';
import { unlockConnectionHandler } from './handlers/unlock-connection.handler';
import { unpinTenantHandler } from './handlers/unpin-tenant.handler';
import {
  DEFAULT_PENDING_SWEEP,
  startPendingConnectSweep,
  type TPendingSweepSettings,
} from './pending/pending-connect.sweep';
import {
  DEFAULT_HEALTH_CHECKS,
  startHealthChecks,
  type THealthCheckSettings,
} from './health/health-check.loop';
import { SCHEMA } from './store/connection.store';

export interface TConnectionConfig extends TServiceProcessConfig {
  /** Catalogue overrides (the health checks' data API URLs); or pass `catalogue` directly (tests). */
  providersFile?: string | undefined;
  catalogue?: Catalogue;
  /** Periodic provider health checks; `enabled: false` runs none (tests that don't want them). */
  healthChecks?: Partial<THealthCheckSettings> & { enabled?: boolean };
  /**
   * The sweep of connects that will never finish, which also publishes the event outbox; `enabled: false` runs none
   * in this replica.
   */
  pendingSweep?: Partial<TPendingSweepSettings> & { enabled?: boolean };
  /**
   * How long the connection service's copy of a refresh-token expiry's audit entry waits for the vault's (default
   * REFRESH_EXPIRED_AUDIT_DELAY_MS, a minute; REFRESH_EXPIRED_AUDIT_DELAY_MS in the environment).
   */
  refreshExpiredAuditDelayMs?: number | undefined;
  /** How long records of keys that are not a saga's are kept, and how often they are purged. */
  idempotencyRecords?: TIdempotencyRecordSettings | undefined;
}

/** The connection service: the org's integration instances and connections, over NATS; publishes to INTEGRATIONS. */
export async function startConnection(cfg: TConnectionConfig): Promise<TRunningService> {
  const catalogue = cfg.catalogue ?? loadCatalogue({ providersFile: cfg.providersFile });
  const { enabled: healthChecksEnabled = true, ...healthOverrides } = cfg.healthChecks ?? {};
  const healthSettings: THealthCheckSettings = { ...DEFAULT_HEALTH_CHECKS, ...healthOverrides };
  const { enabled: sweepEnabled = true, ...sweepOverrides } = cfg.pendingSweep ?? {};
  const sweepSettings: TPendingSweepSettings = { ...DEFAULT_PENDING_SWEEP, ...sweepOverrides };
  return runService({
    name: 'connection',
    version: '0.1.0',
    prefix: 'connection',
    orm: { ...connectionOrmConfig(cfg.databaseUrl), poolMax: cfg.databasePoolMax },
    ...processOptions(cfg, '_INBOX_connection'),
    idempotencyRecords: { schema: SCHEMA, ...cfg.idempotencyRecords },
    // INTEGRATIONS for the domain events; AUDIT for the entries it owes (abandoned connects, refresh-token expiry).
    // INTEGRATIONS before WEBHOOKS: it gives up the webhook subjects (an earlier release's) before WEBHOOKS takes them.
    streams: ['INTEGRATIONS', 'WEBHOOKS', 'AUDIT'],
    handlers: ({ orm, events, logger }) => ({
      'connection.instances.configure': configureInstanceHandler(orm, sweepSettings.staleAfterMs),
      'connection.instances.get': getInstanceHandler(orm),
      'connection.instances.keepers': listKeepersHandler(orm),
      'connection.instances.member-connections': listMemberConnectionsHandler(orm),
      'connection.accounts.grant-holders': countGrantHoldersHandler(orm),
      'connection.integrations.list': listIntegrationsHandler(orm),
      'connection.connections.get': getConnectionHandler(orm),
      'connection.connections.create': createConnectionHandler(orm, sweepSettings.staleAfterMs),
      'connection.connections.activate': activateConnectionHandler({
        orm,
        events,
        logger,
        healthCheckIntervalMs: healthSettings.intervalMs,
      }),
      'connection.connections.abandon': abandonConnectionHandler({ orm, events, logger }),
      'connection.email-builder.from-options': listFromOptionsHandler(orm),
      'connection.dependents.list': listDependentsHandler(),
      'connection.connections.begin-disconnect': beginDisconnectHandler(orm),
      'connection.connections.cancel-disconnect': cancelDisconnectHandler(orm),
      'connection.connections.complete-disconnect': completeDisconnectHandler(orm),
      'connection.connections.mark-refresh-expired': markRefreshExpiredHandler({
        orm,
        events,
        logger,
        ...(cfg.refreshExpiredAuditDelayMs !== undefined
          ? { auditDelayMs: cfg.refreshExpiredAuditDelayMs }
          : {}),
      }),
      'connection.connections.lock': lockConnectionHandler(orm),
      'connection.connections.unlock': unlockConnectionHandler(orm),
      'connection.connections.complete-reconnect': completeReconnectHandler({
        orm,
        events,
        logger,
      }),
      'connection.instances.hold-for-unlink': holdForUnlinkHandler(orm),
      'connection.instances.cancel-unlink': cancelUnlinkHandler(orm),
      'connection.instances.unpin-tenant': unpinTenantHandler(orm),
      'connection.webhook-endpoints.resolve': resolveWebhookEndpointHandler(orm),
      'connection.webhook-endpoints.record-refusal': recordWebhookRefusalHandler(orm),
      'connection.idempotency-records.forget': forgetIdempotencyRecordsHandler(orm),
    }),
    onStart: async ({ orm, bus, events, logger, nc }) => {
      const loops = [
        await consumeWebhookDeliveries({ nc, orm, logger }),
        ...(healthChecksEnabled
          ? [startHealthChecks({ orm, bus, catalogue, logger, settings: healthSettings })]
          : []),
        ...(sweepEnabled
          ? [startPendingConnectSweep({ orm, events, logger, settings: sweepSettings })]
          : []),
      ];
      return async () => {
        await Promise.all(loops.map((l) => l.stop()));
      };
    },
  });
}
