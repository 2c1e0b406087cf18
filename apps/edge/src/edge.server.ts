import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { NatsConnection } from 'nats';
import { createLogger, type Logger } from '@otesse/logging';
import { Bus, connectNats, ensureStreams, EventPublisher } from '@otesse/messaging';
import { migrateUp, openOrm } from '@otesse/persistence';
import { loadCatalogue, type Catalogue } from '@otesse/providers';
import { SagaEngine } from '@otesse/saga';
import { disconnectSaga } from './sagas/disconnect.saga';
import { PendingTokens, reconnectSaga } from './sagas/reconnect.saga';
import { EDGE_SCHEMA, edgeOrmConfig } from './db/orm.config';
import { createOAuthRoutes } from './oauth/oauth-routes';
import { appRouter } from './routers/app.router';
import { restRoutes } from './http/rest-routes';
import { createOpenApiRoute } from './http/openapi.route';
import { createContextFactory, type TEdgeDeps } from './trpc/context';

export interface TEdgeConfig {
  databaseUrl: string;
  natsUrl: string;
  natsUser?: string | undefined;
  natsPassword?: string | undefined;
  host?: string;
  port: number;
  publicUrl?: string | undefined;
  dashboardUrl: string;
  providersFile?: string | undefined;
  catalogue?: Catalogue;
  oauthSessionSecret?: string | undefined;
  logLevel?: string;
  logger?: Logger;
  /** Saga lease: how long a dead edge's sagas wait before another replica resumes them. */
  sagaLeaseMs?: number;
  sagaRecoveryIntervalMs?: number;
}

export interface TRunningEdge {
  url: string;
  port: number;
  deps: TEdgeDeps;
  nc: NatsConnection;
  stop(): Promise<void>;
}

const MAX_BODY_BYTES = 256 * 1024;

/** The only public entry point: tRPC for the dashboard, the OAuth routes, health. */
export async function startEdge(cfg: TEdgeConfig): Promise<TRunningEdge> {
  const logger = cfg.logger ?? createLogger({ name: 'edge', level: cfg.logLevel ?? 'info' });
  const orm: MikroORM = await openOrm(edgeOrmConfig(cfg.databaseUrl));
  const applied = await migrateUp(orm, EDGE_SCHEMA.schema);
  if (applied.length) logger.info({ applied }, 'migrations applied');
  const nc = await connectNats({
    url: cfg.natsUrl,
    name: 'edge',
    user: cfg.natsUser,
    password: cfg.natsPassword,
    inboxPrefix: '_INBOX_edge',
  });
  await ensureStreams(nc, ['AUDIT', 'INTEGRATIONS']);
  const catalogue = cfg.catalogue ?? loadCatalogue({ providersFile: cfg.providersFile });

  const host = cfg.host ?? '127.0.0.1';
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(cfg.port, host, resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : cfg.port;
  const url = `http://${host}:${port}`;
  const sagas = new SagaEngine({
    orm,
    schema: EDGE_SCHEMA.schema,
    logger,
    leaseMs: cfg.sagaLeaseMs ?? 15_000,
    recoveryIntervalMs: cfg.sagaRecoveryIntervalMs ?? 1_000,
  });
  const deps: TEdgeDeps = {
    orm,
    bus: new Bus(nc),
    events: new EventPublisher(nc),
    catalogue,
    logger,
    publicUrl: (cfg.publicUrl ?? url).replace(/\/$/, ''),
    dashboardUrl: cfg.dashboardUrl,
    sagas,
    pendingTokens: new PendingTokens(),
  };
  sagas.register(disconnectSaga(deps));
  sagas.register(reconnectSaga(deps, deps.pendingTokens, 'reconnect'));
  sagas.register(reconnectSaga(deps, deps.pendingTokens, 'changeUser'));
  sagas.startRecovery();
  const trpc = createHTTPHandler({
    router: appRouter,
    createContext: createContextFactory(deps),
    basePath: '/trpc/',
    maxBodySize: MAX_BODY_BYTES,
  });
  const oauth = createOAuthRoutes(deps, { sessionSecret: cfg.oauthSessionSecret });
  const rest = createOpenApiRoute(deps);
  const dashboardOrigin = new URL(cfg.dashboardUrl).origin;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = req.url ?? '/';
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      return;
    }
    if (path === '/readyz') {
      const ok =
        !nc.isClosed() &&
        (await orm.em
          .getConnection()
          .execute('select 1')
          .then(
            () => true,
            () => false,
          ));
      res
        .writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ ok }));
      return;
    }
    if (path.startsWith('/trpc/')) {
      // The dashboard runs on its own origin and authenticates with a bearer token (no cookies): plain CORS.
      if (req.headers.origin === dashboardOrigin) {
        res.setHeader('access-control-allow-origin', dashboardOrigin);
        res.setHeader(
          'access-control-allow-headers',
          'authorization, content-type, x-trace-id, trpc-accept',
        );
        res.setHeader('access-control-allow-methods', 'GET, POST, OPTIONS');
        res.setHeader('vary', 'origin');
      }
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
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
  };
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((e: unknown) => {
      logger.error({ err: e, path: req.url?.split('?')[0] }, 'request failed');
      if (!res.headersSent)
        res
          .writeHead(500, { 'content-type': 'application/json' })
          .end('{"error":"internal error"}');
    });
  });
  logger.info({ url }, 'edge ready');

  let stopping: Promise<void> | undefined;
  return {
    url,
    port,
    deps,
    nc,
    stop: () =>
      (stopping ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
          // Open SSE streams would keep close() waiting forever.
          setTimeout(() => server.closeAllConnections(), 2_000).unref();
        });
        await sagas.stop();
        await nc.drain().catch(() => undefined);
        await orm.close(true);
      })()),
  };
}
