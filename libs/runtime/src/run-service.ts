import type { MikroORM } from '@mikro-orm/postgresql';
import type { NatsConnection } from 'nats';
import { AppError, type TStreamName } from '@otesse/contracts';
import { createLogger, type Logger } from '@otesse/logging';
import {
  Bus,
  connectNats,
  ensureStreams,
  EventPublisher,
  serveService,
  type THandlers,
  type TNatsTls,
  type TServiceHandle,
  watchNatsConnection,
} from '@otesse/messaging';
import {
  databaseErrorToAppError,
  IDEMPOTENCY_PURGE_INTERVAL_MS,
  IDEMPOTENCY_RECORD_RETENTION_MS,
  migrateUp,
  openOrm,
  pendingMigrations,
  purgeIdempotencyRecords,
  type TOrmConfig,
} from '@otesse/persistence';
import { shutdownTracing } from '@otesse/telemetry';
import {
  natsAndPostgresReady,
  startPhasedHealth,
  type THealthServer,
  type TPhasedReadiness,
} from './health-server';
import { startPeriodicTask } from './periodic-task';

export interface TServiceDeps {
  orm: MikroORM;
  nc: NatsConnection;
  bus: Bus;
  events: EventPublisher;
  logger: Logger;
}

export interface TRunningService {
  name: string;
  deps: TServiceDeps;
  health: THealthServer | undefined;
  /**
   * Graceful: not ready from the first moment, stop taking requests (the subscriptions are drained, so queue-group
   * peers get the new ones), wait for in-flight ones, stop the background work, flush NATS, close Postgres.
   */
  stop(): Promise<void>;
  /**
   * Settles if the NATS connection closes for good while the service is not stopping (nats.js gave up): the
   * process is deaf from then on, so its main exits (`exitWhenNatsLost`) and the orchestrator restarts it.
   */
  natsLost: Promise<Error | undefined>;
}

/** IDEMPOTENCY_RECORD_RETENTION_MS and IDEMPOTENCY_PURGE_INTERVAL_MS; unset is the default (30 days, 1 hour). */
export interface TIdempotencyRecordSettings {
  retentionMs?: number | undefined;
  purgeIntervalMs?: number | undefined;
}

export interface TRunServiceOptions<P extends string> {
  name: string;
  version: string;
  prefix: P;
  orm: TOrmConfig;
  nats: {
    url: string;
    user?: string | undefined;
    password?: string | undefined;
    inboxPrefix?: string | undefined;
    tls?: TNatsTls | undefined;
    /** JetStream replicas of the streams this service creates. */
    streamReplicas?: number | undefined;
  };
  logLevel?: string;
  logger?: Logger;
  healthPort?: number | undefined;
  /** The health server's interface (HEALTH_HOST); default loopback. */
  healthHost?: string | undefined;
  streams?: TStreamName[];
  handlers: (deps: TServiceDeps) => THandlers<P>;
  /**
   * Migrations run as another role before the service's own pass (the audit's schema owner). Like that pass, they
   * run after the health server is up: a long migration answers `/healthz`, so a liveness probe does not kill it.
   */
  migrateFirst?: () => Promise<string[]>;
  /**
   * MIGRATE_ON_START (default true). False: a separate `main migrate` (a deploy job) migrates, and the start only
   * checks that this build's migrations are all applied, refusing to serve (`migrations_pending`) otherwise.
   */
  migrateOnStart?: boolean | undefined;
  /**
   * Checks after the migrations, before NATS or any request: throwing stops the start (Postgres closed again), for
   * a configuration that would otherwise serve and then fail every request (the vault's master keys).
   */
  beforeServing?: (orm: MikroORM, logger: Logger) => Promise<void>;
  /** Background work (consumers, loops) started after the handlers; returns its stopper. */
  onStart?: (deps: TServiceDeps) => Promise<(() => Promise<void>) | void>;
  /** How long a graceful stop waits for in-flight requests (default 10 s). */
  drainTimeoutMs?: number;
  /**
   * A service that dedupes commands (`processed_command` in `schema`): every `purgeIntervalMs` (0: never) it deletes
   * the records older than `retentionMs` whose key is not a saga's. The edge releases saga keys.
   */
  idempotencyRecords?: { schema: string } & TIdempotencyRecordSettings;
}

/**
 * What every service's configuration holds the same way (its env parsed by its `main`): NATS, logging, the health
 * server, the ORM pool and the migration policy. A service's own config extends it.
 */
export interface TServiceProcessConfig {
  databaseUrl: string;
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
  /** MIGRATE_ON_START (default true): false only checks that nothing is pending (TRunServiceOptions). */
  migrateOnStart?: boolean | undefined;
}

/** `runService`'s options that come from a service's process configuration as they are, with its inbox prefix. */
export function processOptions(
  cfg: TServiceProcessConfig,
  inboxPrefix: string,
): Pick<
  TRunServiceOptions<string>,
  'nats' | 'logLevel' | 'logger' | 'healthPort' | 'healthHost' | 'migrateOnStart'
> {
  return {
    nats: {
      url: cfg.natsUrl,
      user: cfg.natsUser,
      password: cfg.natsPassword,
      tls: cfg.natsTls,
      streamReplicas: cfg.natsStreamReplicas,
      inboxPrefix,
    },
    ...(cfg.logLevel ? { logLevel: cfg.logLevel } : {}),
    ...(cfg.logger ? { logger: cfg.logger } : {}),
    healthPort: cfg.healthPort,
    healthHost: cfg.healthHost,
    migrateOnStart: cfg.migrateOnStart,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves with `p`, or after `ms` with undefined: a stop must never hang on an unreachable dependency. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The one way every service starts: Postgres (migrated), NATS, its endpoints, health, graceful stop. */
export async function runService<P extends string>(
  opts: TRunServiceOptions<P>,
): Promise<TRunningService> {
  const logger = opts.logger ?? createLogger({ name: opts.name, level: opts.logLevel ?? 'info' });
  const lifecycle = await startPhasedHealth(
    opts.healthPort,
    opts.healthHost ? { host: opts.healthHost } : {},
  );
  try {
    return await serve(opts, logger, lifecycle);
  } catch (e) {
    await lifecycle.server?.close();
    throw e;
  }
}

/** What a start migrates: its own schema, optionally after another role's pass; or only checks it. */
export interface TStartMigrations {
  orm: MikroORM;
  /** What `orm` was opened with: its schema and this build's migrations. */
  config: TOrmConfig;
  logger: Logger;
  migrateFirst?: (() => Promise<string[]>) | undefined;
  migrateOnStart?: boolean | undefined;
}

/**
 * The migrations at start: run them (logged), or, with MIGRATE_ON_START=false, refuse to serve on a schema behind
 * this build, naming what is pending: queries against missing tables would fail request by request instead.
 */
export async function migrateAtStart(m: TStartMigrations): Promise<void> {
  if (m.migrateOnStart ?? true) {
    const applied = [
      ...((await m.migrateFirst?.()) ?? []),
      ...(await migrateUp(m.orm, m.config.schema)),
    ];
    if (applied.length) m.logger.info({ applied }, 'migrations applied');
    return;
  }
  const pending = await pendingMigrations(m.orm, m.config);
  if (pending.length)
    throw new AppError(
      'PRECONDITION_FAILED',
      `refusing to start: ${pending.length} migration(s) of this build not applied and MIGRATE_ON_START=false ` +
        `(run "main migrate" first)`,
      { reason: 'migrations_pending', details: { pending } },
    );
}

async function serve<P extends string>(
  opts: TRunServiceOptions<P>,
  logger: Logger,
  lifecycle: TPhasedReadiness,
): Promise<TRunningService> {
  const health = lifecycle.server;
  const orm = await openOrm({ ...opts.orm, logger });
  try {
    await migrateAtStart({
      orm,
      config: opts.orm,
      logger,
      migrateFirst: opts.migrateFirst,
      migrateOnStart: opts.migrateOnStart,
    });
    await opts.beforeServing?.(orm, logger);
  } catch (e) {
    await orm.close(true).catch(() => undefined);
    throw e;
  }
  const nc = await connectNats({
    url: opts.nats.url,
    name: opts.name,
    user: opts.nats.user,
    password: opts.nats.password,
    inboxPrefix: opts.nats.inboxPrefix,
    tls: opts.nats.tls,
  });
  const natsWatch = watchNatsConnection(nc, logger);
  if (opts.streams?.length)
    await ensureStreams(nc, opts.streams, {
      replicas: opts.nats.streamReplicas ?? 1,
      // The streams whose `owner` is this service (its `name`) get its configuration; the others are only created.
      service: opts.name,
      logger,
    });
  const deps: TServiceDeps = {
    orm,
    nc,
    bus: new Bus(nc),
    events: new EventPublisher(nc, { streamReplicas: opts.nats.streamReplicas ?? 1, logger }),
    logger,
  };
  const svc: TServiceHandle = await serveService(nc, {
    name: opts.name,
    version: opts.version,
    prefix: opts.prefix,
    handlers: opts.handlers(deps),
    logger,
    // A request that meets an unreachable database is answered UNAVAILABLE: sagas retry it (past their pivot,
    // until the database is back) instead of counting it as the handler's failure.
    mapError: databaseErrorToAppError,
  });
  // Subscriptions reach the server before "ready": a request right after start must not find "no responders".
  await nc.flush();
  const stopBackground = (await opts.onStart?.(deps)) ?? undefined;
  const records = opts.idempotencyRecords;
  const purgeEvery = records?.purgeIntervalMs ?? IDEMPOTENCY_PURGE_INTERVAL_MS;
  const recordPurge =
    records && purgeEvery > 0
      ? startPeriodicTask({
          what: 'purging old idempotency records',
          delayMs: purgeEvery,
          logger,
          run: async () => {
            const purged = await purgeIdempotencyRecords(
              orm.em.getConnection().getKnex(),
              records.schema,
              records.retentionMs ?? IDEMPOTENCY_RECORD_RETENTION_MS,
            );
            if (purged > 0) logger.info({ purged }, 'old idempotency records deleted');
          },
        })
      : undefined;
  lifecycle.serving(() => natsAndPostgresReady(natsWatch, orm));
  logger.info({ healthPort: health?.port }, `${opts.name} ready`);
  let stopping: Promise<void> | undefined;
  return {
    name: opts.name,
    deps,
    health,
    natsLost: natsWatch.lostUnless(() => stopping !== undefined),
    stop: () =>
      (stopping ??= (async () => {
        lifecycle.draining();
        // Draining the endpoints' subscriptions: the server routes no new request here (another replica in the
        // queue group gets it), and the ones already on their way are still delivered and answered.
        await svc.stop();
        const deadline = Date.now() + (opts.drainTimeoutMs ?? 10_000);
        while (svc.inFlight() > 0 && Date.now() < deadline) await sleep(20);
        if (svc.inFlight() > 0)
          logger.warn({ inFlight: svc.inFlight() }, 'stopping with requests still in flight');
        // Background work next: consumers and runners may still call other services over NATS.
        await recordPurge?.stop();
        if (stopBackground) await stopBackground();
        // Flush what was published. Bounded: with NATS unreachable, drain would wait for a reconnect.
        await within(
          nc.drain().catch(() => undefined),
          5_000,
        );
        if (!nc.isClosed()) await nc.close().catch(() => undefined);
        // The last batch of spans (no-op when tracing is off).
        await within(
          shutdownTracing().catch(() => undefined),
          2_000,
        );
        await orm.close(true);
        await health?.close();
        logger.info(`${opts.name} stopped`);
      })()),
  };
}

/**
 * Exits the process (code 1) when its NATS connection closed for good outside a stop: alive but deaf, it would stay
 * "healthy" until restarted by hand. Logged as fatal, with nats.js' reason.
 */
export function exitWhenNatsLost(lost: Promise<Error | undefined>, logger: Logger): void {
  void lost.then((err) => {
    logger.fatal(
      { err },
      'the NATS connection closed for good; exiting so that the process is restarted',
    );
    process.exit(1);
  });
}

/**
 * What stops a service gracefully: SIGTERM (an orchestrator, a rolling deploy), SIGINT (Ctrl-C) and SIGHUP (its
 * terminal closed, or a process manager's hang-up), which would otherwise end it at once, mid-handler.
 */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

/**
 * Wires `signals` (STOP_SIGNALS unless given) to a graceful stop; a second signal exits at once, and so does a stop
 * that takes longer than `timeoutMs` (below docker-compose's stop_grace_period, so the process reports it before it
 * is killed).
 */
export function stopOnSignals(
  stop: () => Promise<void>,
  logger: Logger,
  opts: { timeoutMs?: number; signals?: readonly NodeJS.Signals[] } = {},
): void {
  let signalled = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalled) process.exit(1);
    signalled = true;
    logger.info({ signal: sig }, 'shutting down');
    setTimeout(() => {
      logger.error({ timeoutMs: opts.timeoutMs ?? 15_000 }, 'graceful stop took too long; exiting');
      process.exit(1);
    }, opts.timeoutMs ?? 15_000).unref();
    stop().then(
      () => process.exit(0),
      (e: unknown) => {
        logger.error({ err: e }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  for (const signal of opts.signals ?? STOP_SIGNALS) process.on(signal, onSignal);
}
