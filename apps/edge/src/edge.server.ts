import {
  createServer,
  STATUS_CODES,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { TRPCError } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { NatsConnection } from 'nats';
import { parseEnv } from '@otesse/config';
import { AppError } from '@otesse/contracts';
import { TokenUseRecorder } from '@otesse/identity';
import { createLogger, type Logger } from '@otesse/logging';
import {
  Bus,
  connectNats,
  ensureStreams,
  EventPublisher,
  watchNatsConnection,
  type TNatsTls,
} from '@otesse/messaging';
import { openOrm } from '@otesse/persistence';
import { loadCatalogue, type Catalogue } from '@otesse/providers';
import {
  SAGA_RECORD_RELEASE_INTERVAL_MS,
  SAGA_RECORD_RETENTION_MS,
  SagaEngine,
} from '@otesse/saga';
import {
  migrateAtStart,
  natsAndPostgresReady,
  startPhasedHealth,
  type TPhasedReadiness,
} from '@otesse/runtime';
import { OAUTH_PURGE_INTERVAL_MS, startOAuthPurge } from './oauth/purge-expired-oauth-rows';
import { startSagaRecordRelease } from './sagas/release-saga-records';
import { sagaDefinitions } from './sagas/saga-registry';
import { EDGE_SCHEMA, edgeOrmConfig } from './db/orm.config';
import { createOAuthRoutes, pathForLog } from './oauth/oauth-routes';
import { TOKEN_EXCHANGE_MAX_RESPONSE_BYTES } from './oauth/bounded-token-exchange';
import { appRouter } from './routers/app.router';
import { restRoutes } from './http/rest-routes';
import { createOpenApiRoute } from './http/openapi.route';
import { createContextFactory, type TEdgeDeps } from './trpc/context';
import { edgeResponseMeta, trpcErrorBody } from './trpc/response-meta';
import { ZEdgeLimitsEnv, ZEdgeSagaRetryEnv } from './env.schema';
import { createEdgeLimits, edgeLimitsFromEnv, type TEdgeLimitsConfig } from './http/edge-limits';
import { installObservability } from './observability/install-observability';
import { sendAppError } from './http/http-errors';
import { asAppError } from './trpc/app-error-to-trpc';

export interface TEdgeConfig {
  databaseUrl: string;
  /** The ORM pool's size (DATABASE_POOL_MAX); default 10. */
  databasePoolMax?: number | undefined;
  natsUrl: string;
  natsUser?: string | undefined;
  natsPassword?: string | undefined;
  /** TLS to NATS (NATS_TLS*): undefined is plaintext. */
  natsTls?: TNatsTls | undefined;
  /** JetStream replicas of the streams it creates (NATS_STREAM_REPLICAS). */
  natsStreamReplicas?: number | undefined;
  host?: string;
  port: number;
  /** HTTPS on the public port with this certificate and key (PEM); unset: plain HTTP behind a TLS proxy. */
  tls?: { cert: string; key: string } | undefined;
  publicUrl?: string | undefined;
  dashboardUrl: string;
  providersFile?: string | undefined;
  catalogue?: Catalogue;
  oauthSessionSecret?: string | undefined;
  /** How long an OAuth start or callback waits for the edge's database when it is out of reach (default 10 s). */
  oauthDatabaseWaitMs?: number | undefined;
  /** A callback's code exchange with the provider, in all (default 10 s; its answer is also capped at 64 KB). */
  tokenExchangeTimeoutMs?: number | undefined;
  /**
   * How long the vault holds a callback's tokens for the connect or reconnect that claims them (default 900 s); not
   * claimed by then (this edge died), the vault revokes and destroys them.
   */
  tokenStageHoldSec?: number | undefined;
  /**
   * How often expired OAuth sessions, pending authorizations and old webhook delivery records are deleted (default
   * 10 min; 0: never).
   */
  oauthPurgeIntervalMs?: number | undefined;
  /** How long a published webhook delivery is remembered, so a replay of it is not published again (default 7 days). */
  webhookDedupeRetentionMs?: number | undefined;
  logLevel?: string;
  logger?: Logger;
  /** Saga lease: how long a dead edge's sagas wait before another replica resumes them. */
  sagaLeaseMs?: number;
  sagaRecoveryIntervalMs?: number;
  /** Resume sagas stopped past their pivot on their own (SAGA_AUTO_RESUME_MS, _MAX_MS). Unset: only by request. */
  sagaAutoResume?: { afterMs: number; maxDelayMs: number } | undefined;
  /**
   * The longest delay between saga retries that go on until done (past the pivot, compensations, hooks). Unset:
   * SAGA_RETRY_MAX_MS from this process's environment (`ZEdgeSagaRetryEnv`, default 30 s).
   */
  sagaRetryMaxMs?: number | undefined;
  /**
   * How long a step before the pivot is retried while its service is away, before the saga compensates. Unset:
   * SAGA_UNAVAILABLE_RETRY_MS from this process's environment (default 10 s).
   */
  sagaUnavailableRetryMs?: number | undefined;
  /**
   * When ended sagas' idempotency records are released in the services (SAGA_RECORD_RETENTION_MS, default 7 days)
   * and how often each edge looks (SAGA_RECORD_RELEASE_INTERVAL_MS, default 1 min; 0: never); how long the log keeps
   * a released saga (SAGA_HISTORY_RETENTION_MS, default 0: for ever), deleted by the same run.
   */
  sagaRecords?: {
    retentionMs?: number | undefined;
    releaseIntervalMs?: number | undefined;
    historyRetentionMs?: number | undefined;
  };
  /** On stop: how long requests in flight may still take (default 10 s); event streams are closed at once. */
  shutdownGraceMs?: number;
  /**
   * On stop, before anything closes: how long every request is still served while `/readyz` answers 503, so a load
   * balancer takes this replica out of rotation first (EDGE_SHUTDOWN_DELAY_MS; default 0).
   */
  shutdownDelayMs?: number;
  /** MIGRATE_ON_START (default true): false only checks that nothing is pending (TRunServiceOptions). */
  migrateOnStart?: boolean | undefined;
  /**
   * Body size and rate limits (each unset one: its default). Unset altogether: read from this process's
   * environment (`ZEdgeLimitsEnv`, already validated by main's `parseEnv`).
   */
  limits?: Partial<TEdgeLimitsConfig>;
  /**
   * An internal operations server (HEALTH_PORT, HEALTH_HOST): `/healthz`, `/readyz` and `/metrics` on their own
   * port, for Prometheus and probes inside the network. Unset: none.
   */
  health?: { port: number; host?: string | undefined } | undefined;
  /** Serve `/metrics` on the public port too (EDGE_PUBLIC_METRICS; default false). */
  publicMetrics?: boolean | undefined;
}

export interface TRunningEdge {
  url: string;
  port: number;
  /** The internal operations server's port, when there is one. */
  healthPort: number | undefined;
  deps: TEdgeDeps;
  nc: NatsConnection;
  /**
   * Serves the public port with this certificate and key from the next TLS handshake on (a renewal), without a
   * restart; connections already open keep theirs. Throws, changing nothing, when the pair is not usable (a PEM
   * that does not parse, a key of another certificate) or the port is plain HTTP.
   */
  reloadTls(tls: { cert: string; key: string }): void;
  stop(): Promise<void>;
  /** Settles if the NATS connection closes for good outside a stop (see TRunningService.natsLost). */
  natsLost: Promise<Error | undefined>;
}

const isEventStream = (res: ServerResponse): boolean =>
  String(res.getHeader('content-type') ?? '').startsWith('text/event-stream');

/** A request whose declared body is over the limit: refused before a byte of it is read. */
function declaredBodyTooLarge(req: IncomingMessage, maxBytes: number): boolean {
  const length = Number(req.headers['content-length']);
  return Number.isFinite(length) && length > maxBytes;
}

/**
 * Reads and drops the body of a refused request, so the client (still sending) gets the answer instead of a
 * connection reset; one much larger than the limit gets its connection closed.
 */
function discardBody(req: IncomingMessage, maxBytes: number): void {
  let dropped = 0;
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > 16 * maxBytes) req.socket.destroy();
  });
}

/**
 * Malformed HTTP that never becomes a request (headers too large, bad syntax, slow headers): Node's own answer,
 * with a typed JSON body like every other refusal.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, error] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, new AppError('PAYLOAD_TOO_LARGE', 'request line and headers are too large')]
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, new AppError('TIMEOUT', 'the request took too long to arrive')]
        : [400, new AppError('BAD_REQUEST', 'malformed HTTP request')];
  const body = JSON.stringify(error.toReply());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** The only public entry point: tRPC for the dashboard, the OAuth routes, health. */
export async function startEdge(cfg: TEdgeConfig): Promise<TRunningEdge> {
  const logger = cfg.logger ?? createLogger({ name: 'edge', level: cfg.logLevel ?? 'info' });
  // The catalogue first: a bad PROVIDERS_FILE or OAUTH_* variable stops the edge before it touches anything.
  const catalogue = cfg.catalogue ?? loadCatalogue({ providersFile: cfg.providersFile });
  // The operations port first: it answers /healthz while migrations run, /readyz `starting` until served.
  const lifecycle = await startPhasedHealth(
    cfg.health?.port,
    cfg.health?.host ? { host: cfg.health.host } : {},
  );
  try {
    return await serveEdge(cfg, logger, catalogue, lifecycle);
  } catch (e) {
    await lifecycle.server?.close();
    throw e;
  }
}

async function serveEdge(
  cfg: TEdgeConfig,
  logger: Logger,
  catalogue: Catalogue,
  lifecycle: TPhasedReadiness,
): Promise<TRunningEdge> {
  const ormConfig = edgeOrmConfig(cfg.databaseUrl);
  const orm: MikroORM = await openOrm({ ...ormConfig, poolMax: cfg.databasePoolMax, logger });
  try {
    await migrateAtStart({
      orm,
      config: ormConfig,
      logger,
      migrateOnStart: cfg.migrateOnStart,
    });
  } catch (e) {
    await orm.close(true).catch(() => undefined);
    throw e;
  }
  const nc = await connectNats({
    url: cfg.natsUrl,
    name: 'edge',
    user: cfg.natsUser,
    password: cfg.natsPassword,
    tls: cfg.natsTls,
    inboxPrefix: '_INBOX_edge',
  });
  const natsWatch = watchNatsConnection(nc, logger);
  // Created if missing, never reconfigured: the audit and connection services own them.
  await ensureStreams(nc, ['AUDIT', 'INTEGRATIONS', 'WEBHOOKS'], {
    replicas: cfg.natsStreamReplicas ?? 1,
    service: 'edge',
    logger,
  });
  const limits = createEdgeLimits(
    cfg.limits ?? edgeLimitsFromEnv(parseEnv('edge', ZEdgeLimitsEnv)),
  );

  const host = cfg.host ?? '127.0.0.1';
  const server: Server | HttpsServer = cfg.tls
    ? createHttpsServer({ cert: cfg.tls.cert, key: cfg.tls.key })
    : createServer();
  await new Promise<void>((resolve) => server.listen(cfg.port, host, resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : cfg.port;
  const url = `${cfg.tls ? 'https' : 'http'}://${host}:${port}`;
  const retryEnv = parseEnv('edge', ZEdgeSagaRetryEnv);
  const sagas = new SagaEngine({
    orm,
    schema: EDGE_SCHEMA.schema,
    logger,
    leaseMs: cfg.sagaLeaseMs ?? 15_000,
    recoveryIntervalMs: cfg.sagaRecoveryIntervalMs ?? 1_000,
    ...(cfg.sagaAutoResume ? { autoResume: cfg.sagaAutoResume } : {}),
    backoff: { untilDoneMaxMs: cfg.sagaRetryMaxMs ?? retryEnv.SAGA_RETRY_MAX_MS },
    unavailableRetryMs: cfg.sagaUnavailableRetryMs ?? retryEnv.SAGA_UNAVAILABLE_RETRY_MS,
  });
  const deps: TEdgeDeps = {
    orm,
    bus: new Bus(nc),
    events: new EventPublisher(nc, { streamReplicas: cfg.natsStreamReplicas ?? 1, logger }),
    catalogue,
    logger,
    publicUrl: (cfg.publicUrl ?? url).replace(/\/$/, ''),
    dashboardUrl: cfg.dashboardUrl,
    sagas,
    limits,
    tokenUse: new TokenUseRecorder({
      knex: () => orm.em.getConnection().getKnex(),
      // The call it was for has been answered already: only the log knows.
      onError: (err, tokenId) =>
        logger.warn({ err, tokenId }, 'could not record the API token as used'),
    }),
  };
  // Older versions stay registered: a saga started before an upgrade finishes on the definition it started with.
  for (const def of sagaDefinitions(deps)) sagas.register(def);
  // Saga and step metrics and spans, from the engine's events (before recovery may resume a saga).
  const observability = installObservability(sagas, {
    countUnfinished: () => sagas.countUnfinished(),
  });
  sagas.startRecovery();
  const purgeEvery = cfg.oauthPurgeIntervalMs ?? OAUTH_PURGE_INTERVAL_MS;
  const oauthPurge =
    purgeEvery > 0
      ? startOAuthPurge(
          () => orm.em.getConnection().getKnex(),
          logger,
          purgeEvery,
          cfg.webhookDedupeRetentionMs,
        )
      : undefined;
  const releaseEvery = cfg.sagaRecords?.releaseIntervalMs ?? SAGA_RECORD_RELEASE_INTERVAL_MS;
  const recordRelease =
    releaseEvery > 0
      ? startSagaRecordRelease({
          knex: () => orm.em.getConnection().getKnex(),
          schema: EDGE_SCHEMA.schema,
          bus: deps.bus,
          logger,
          retentionMs: cfg.sagaRecords?.retentionMs ?? SAGA_RECORD_RETENTION_MS,
          historyRetentionMs: cfg.sagaRecords?.historyRetentionMs ?? 0,
          intervalMs: releaseEvery,
        })
      : undefined;
  const trpc = createHTTPHandler({
    router: appRouter,
    createContext: createContextFactory(deps),
    basePath: '/trpc/',
    maxBodySize: limits.maxBodyBytes,
    responseMeta: edgeResponseMeta,
  });
  const oauth = createOAuthRoutes(deps, {
    sessionSecret: cfg.oauthSessionSecret,
    databaseWaitMs: cfg.oauthDatabaseWaitMs ?? 10_000,
    tokenExchange: {
      deadlineMs: cfg.tokenExchangeTimeoutMs ?? 10_000,
      maxResponseBytes: TOKEN_EXCHANGE_MAX_RESPONSE_BYTES,
    },
    stageHoldSec: cfg.tokenStageHoldSec ?? 900,
  });
  const rest = createOpenApiRoute(deps);
  const dashboardOrigin = new URL(cfg.dashboardUrl).origin;

  const publicMetrics = cfg.publicMetrics ?? false;
  const ready = lifecycle.ready;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = req.url ?? '/';
    // Operational endpoints first: probes (and metrics) take no body and bypass every limit. With
    // EDGE_PUBLIC_METRICS=false, /metrics is served only on the internal operations port.
    if (path === '/metrics' && publicMetrics) return observability.serveMetrics(res);
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      return;
    }
    if (path === '/readyz') {
      const { ok } = await ready();
      res
        .writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ ok }));
      return;
    }
    const isTrpc = path.startsWith('/trpc/');
    // The dashboard runs on its own origin and authenticates with a bearer token (no cookies): plain CORS.
    if (isTrpc && req.headers.origin === dashboardOrigin) {
      res.setHeader('access-control-allow-origin', dashboardOrigin);
      res.setHeader(
        'access-control-allow-headers',
        'authorization, content-type, x-trace-id, trpc-accept',
      );
      res.setHeader('access-control-allow-methods', 'GET, POST, OPTIONS');
      res.setHeader('access-control-expose-headers', 'retry-after');
      res.setHeader('vary', 'origin');
    }
    // Every route: a declared oversized body is refused unread (chunked ones are cut by each route's reader).
    if (declaredBodyTooLarge(req, limits.maxBodyBytes)) {
      discardBody(req, limits.maxBodyBytes);
      const message = `request body exceeds ${limits.maxBodyBytes} bytes`;
      const cause = new AppError('PAYLOAD_TOO_LARGE', message, { reason: 'body_too_large' });
      if (isTrpc) {
        res
          .writeHead(413, { 'content-type': 'application/json' })
          .end(trpcErrorBody(new TRPCError({ code: 'PAYLOAD_TOO_LARGE', message, cause })));
      } else {
        sendAppError(res, cause);
      }
      return;
    }
    if (isTrpc) {
      if (req.method === 'OPTIONS') {
        res.writeHead(204).end();
        return;
      }
      trpc(req, res);
      return;
    }
    if (await oauth(req, res)) return;
    for (const route of restRoutes) if (await route(req, res, deps)) return;
    if (await rest(req, res)) return;
    sendAppError(res, new AppError('NOT_FOUND', 'no such route'));
  };
  server.on('clientError', answerClientError);
  /** Responses not finished yet: on stop, the event streams among them are closed at once. */
  const open = new Set<ServerResponse>();
  /**
   * Stopping: every response closes its connection. Without it a keep-alive connection (a load balancer's pool, a
   * client's agent) keeps bringing new requests to an edge that is going away until the grace runs out, and then
   * has them cut; with it the client's next request opens a connection elsewhere, and the edge stops as soon as the
   * requests in flight are done.
   */
  let draining = false;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    open.add(res);
    res.once('close', () => open.delete(res));
    if (draining) res.setHeader('connection', 'close');
    if (logger.isLevelEnabled('debug')) {
      const started = performance.now();
      // The path only: query strings carry OAuth codes and states, tRPC inputs, export filters; a start link's
      // key is left out too (both read now: the OAuth routes rewrite them for grant).
      const { method } = req;
      const path = pathForLog(req.url);
      res.once('finish', () =>
        logger.debug(
          {
            method,
            path,
            status: res.statusCode,
            ms: Math.round(performance.now() - started),
          },
          'request',
        ),
      );
    }
    handle(req, res).catch((e: unknown) => {
      const known = asAppError(e);
      if (known)
        logger.warn(
          { code: known.code, reason: known.reason, path: pathForLog(req.url) },
          'request failed',
        );
      else logger.error({ err: e, path: pathForLog(req.url) }, 'request failed');
      if (!res.headersSent) sendAppError(res, known ?? new AppError('INTERNAL', 'internal error'));
      else res.destroy();
    });
  });
  lifecycle.serving(() => natsAndPostgresReady(natsWatch, orm));
  const health = lifecycle.server;
  logger.info({ url, healthPort: health?.port }, 'edge ready');

  let stopping: Promise<void> | undefined;
  return {
    url,
    port,
    healthPort: health?.port,
    deps,
    nc,
    natsLost: natsWatch.lostUnless(() => stopping !== undefined),
    reloadTls: (tls) => {
      if (!cfg.tls)
        throw new Error('the public port is plain HTTP: there is no certificate to reload');
      (server as HttpsServer).setSecureContext({ cert: tls.cert, key: tls.key });
    },
    stop: () =>
      (stopping ??= (async () => {
        // Not ready from now on (both ports). Every response closes its connection: a keep-alive pool's next
        // request opens a new one, which a balancer that took us out of rotation sends elsewhere.
        lifecycle.draining();
        draining = true;
        for (const res of open) if (!res.headersSent) res.setHeader('connection', 'close');
        const delayMs = cfg.shutdownDelayMs ?? 0;
        if (delayMs > 0) {
          // Still serving everything: closing now would refuse the requests a balancer sends until its probes see
          // the 503 (ECONNREFUSED for the client instead of an answer).
          logger.info({ delayMs }, 'not ready; serving until the load balancer lets go');
          await new Promise((resolve) => setTimeout(resolve, delayMs));
        }
        // Then the operations port stops answering, like the public port: the edge is going away.
        const healthClosed = health?.close();
        await new Promise<void>((resolve) => {
          // Event streams never end on their own: closed now (their clients reconnect, to another replica behind
          // the load balancer). Requests in flight — a disconnect waiting for its saga — may finish, up to the grace.
          const graceMs = cfg.shutdownGraceMs ?? 10_000;
          const grace = setTimeout(() => {
            logger.warn(
              { inFlight: open.size, graceMs },
              'shutdown grace over: the connections left are closed',
            );
            server.closeAllConnections();
          }, graceMs).unref();
          server.close(() => {
            clearTimeout(grace);
            resolve();
          });
          server.closeIdleConnections();
          for (const res of open) if (isEventStream(res)) res.destroy();
        });
        await healthClosed;
        await oauthPurge?.stop();
        await recordRelease?.stop();
        await sagas.stop();
        // The last batch of spans.
        await observability.stop();
        await nc.drain().catch(() => undefined);
        await orm.close(true);
      })()),
  };
}
