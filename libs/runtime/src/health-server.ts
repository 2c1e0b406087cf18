import { createServer, type Server } from 'node:http';
import type { MikroORM } from '@mikro-orm/postgresql';
import { serveMetrics } from '@otesse/telemetry';

export interface THealthServer {
  port: number;
  /** The interface it listens on. */
  host: string;
  close(): Promise<void>;
}

export interface THealthServerOptions {
  /**
   * Interface to listen on. Loopback by default (the container's own HEALTHCHECK reaches it); `0.0.0.0` when
   * Prometheus or an orchestrator's probes scrape from outside the container.
   */
  host?: string;
}

export interface TReadiness {
  ok: boolean;
  checks: Record<string, boolean>;
}

/** `/readyz`'s answer for a process on NATS and Postgres: both usable (NATS connected now), each named. */
export async function natsAndPostgresReady(
  nats: { connected(): boolean },
  orm: MikroORM,
): Promise<TReadiness> {
  const checks = {
    nats: nats.connected(),
    postgres: await orm.em
      .getConnection()
      .execute('select 1')
      .then(() => true)
      .catch(() => false),
  };
  return { ok: checks.nats && checks.postgres, checks };
}

/**
 * `/healthz` (process alive), `/readyz` (dependencies usable) for orchestrators and compose healthchecks, and
 * `/metrics` (this process's Prometheus registry) for scrapers.
 */
export async function startHealthServer(
  port: number,
  ready: () => Promise<TReadiness>,
  opts: THealthServerOptions = {},
): Promise<THealthServer> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = req.url?.split('?')[0];
      if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
        return;
      }
      if (path === '/readyz') {
        const r = await ready().catch(() => ({ ok: false, checks: {} }));
        res
          .writeHead(r.ok ? 200 : 503, { 'content-type': 'application/json' })
          .end(JSON.stringify(r));
        return;
      }
      if (path === '/metrics' && (req.method === 'GET' || req.method === 'HEAD')) {
        serveMetrics(res);
        return;
      }
      res.writeHead(404).end();
    })();
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : port,
    host: typeof addr === 'object' && addr ? addr.address : host,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Where a process is in its life, as `/readyz` reports it before and after the dependencies' own checks. */
export type TLifePhase = 'starting' | 'serving' | 'draining';

export interface TPhasedReadiness {
  /** The operations server (none without a port). */
  server: THealthServer | undefined;
  /** `/readyz`'s answer: `starting` and `draining` are not ready; serving asks the dependencies. */
  ready(): Promise<TReadiness>;
  /** From now on, readiness is `check` (NATS and Postgres usable). */
  serving(check: () => Promise<TReadiness>): void;
  /** Stopping: not ready, so probes and balancers send nothing new while in-flight work finishes. */
  draining(): void;
}

/**
 * A process's readiness through its life, and its operations server started right away (when `port` is set):
 * `/healthz` answers while migrations run (alive: a liveness probe must not kill a long migration), `/readyz` says
 * `starting` until requests are served and `draining` once a stop began.
 */
export async function startPhasedHealth(
  port: number | undefined,
  opts: THealthServerOptions = {},
): Promise<TPhasedReadiness> {
  let phase: TLifePhase = 'starting';
  let check: (() => Promise<TReadiness>) | undefined;
  const ready = async (): Promise<TReadiness> =>
    phase === 'serving' && check ? check() : { ok: false, checks: { [phase]: true } };
  return {
    server: port === undefined ? undefined : await startHealthServer(port, ready, opts),
    ready,
    serving: (c) => {
      check = c;
      phase = 'serving';
    },
    draining: () => {
      phase = 'draining';
    },
  };
}
