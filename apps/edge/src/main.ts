import { natsTlsOf } from '@otesse/config';
import { migrateSchema } from '@otesse/persistence';
import { runMain } from '@otesse/runtime';
import { edgeOrmConfig } from './db/orm.config';
import { startEdge } from './edge.server';
import { edgeLimitsFromEnv } from './http/edge-limits';
import {
  describeCertificate,
  reloadPublicCertificateOnSighup,
} from './http/reload-public-certificate';
import { edgePublicUrlOf, edgeTlsOf, ZEdgeEnv } from './env.schema';

await runMain({
  name: 'edge',
  env: ZEdgeEnv,
  migrate: (env) => migrateSchema(edgeOrmConfig(env.DATABASE_URL)),
  start: async (env, logger) => {
    const tls = edgeTlsOf(env);
    if (tls) logger.info(describeCertificate(tls.cert), 'public port certificate');
    const edge = await startEdge({
      databaseUrl: env.DATABASE_URL,
      databasePoolMax: env.DATABASE_POOL_MAX,
      natsUrl: env.NATS_URL,
      natsUser: env.NATS_USER,
      natsPassword: env.NATS_PASSWORD,
      natsTls: natsTlsOf(env),
      natsStreamReplicas: env.NATS_STREAM_REPLICAS,
      host: env.EDGE_HOST,
      port: env.EDGE_PORT,
      tls,
      publicUrl: edgePublicUrlOf(env),
      dashboardUrl: env.DASHBOARD_URL,
      providersFile: env.PROVIDERS_FILE,
      oauthSessionSecret: env.OAUTH_SESSION_SECRET,
      oauthDatabaseWaitMs: env.EDGE_OAUTH_DATABASE_WAIT_MS,
      tokenExchangeTimeoutMs: env.EDGE_TOKEN_EXCHANGE_TIMEOUT_MS,
      tokenStageHoldSec: env.EDGE_TOKEN_STAGE_HOLD_SEC,
      oauthPurgeIntervalMs: env.EDGE_OAUTH_PURGE_INTERVAL_MS,
      webhookDedupeRetentionMs: env.EDGE_WEBHOOK_DEDUPE_RETENTION_MS,
      sagaLeaseMs: env.SAGA_LEASE_MS,
      sagaRecoveryIntervalMs: env.SAGA_RECOVERY_INTERVAL_MS,
      sagaAutoResume:
        env.SAGA_AUTO_RESUME_MS === 0
          ? undefined
          : { afterMs: env.SAGA_AUTO_RESUME_MS, maxDelayMs: env.SAGA_AUTO_RESUME_MAX_MS },
      sagaRecords: {
        retentionMs: env.SAGA_RECORD_RETENTION_MS,
        releaseIntervalMs: env.SAGA_RECORD_RELEASE_INTERVAL_MS,
        historyRetentionMs: env.SAGA_HISTORY_RETENTION_MS,
      },
      shutdownGraceMs: env.EDGE_SHUTDOWN_GRACE_MS,
      shutdownDelayMs: env.EDGE_SHUTDOWN_DELAY_MS,
      migrateOnStart: env.MIGRATE_ON_START,
      limits: edgeLimitsFromEnv(env),
      health:
        env.HEALTH_PORT === undefined
          ? undefined
          : { port: env.HEALTH_PORT, host: env.HEALTH_HOST },
      publicMetrics: env.EDGE_PUBLIC_METRICS,
      logger,
    });
    reloadPublicCertificateOnSighup({
      read: () => edgeTlsOf(env),
      reload: (tls) => edge.reloadTls(tls),
      logger,
    });
    return edge;
  },
  // SIGHUP is the certificate's reload here, not a stop.
  stopSignals: ['SIGTERM', 'SIGINT'],
  // The stop's own bound follows the time it grants (the delay, then requests' grace, plus sagas, NATS and
  // Postgres closing), or a long EDGE_SHUTDOWN_GRACE_MS would be cut at the default 15 s. The orchestrator's grace
  // must exceed it.
  stopTimeoutMs: (env) => env.EDGE_SHUTDOWN_DELAY_MS + env.EDGE_SHUTDOWN_GRACE_MS + 5_000,
});
