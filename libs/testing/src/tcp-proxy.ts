import { createServer, connect, type Socket } from 'node:net';
import { TEST_ADMIN_URL } from './test-database';

export interface TTcpProxy {
  /** The loopback port clients connect to. */
  port: number;
  /** `url` with its host and port replaced by the proxy's (a database URL, say). */
  via(url: string): string;
  /**
   * The network path fails: every open connection is cut (the peer sees its socket reset, as when the server
   * restarts or a failover moves it) and new ones are closed as soon as they open, until `restore()`.
   */
  cut(): void;
  restore(): void;
  /** Connections passing through right now. */
  open(): number;
  close(): Promise<void>;
}

/**
 * A loopback TCP proxy to a real server (Postgres, here), for faults no mock can stand in for: the server stays
 * up for everyone else while one process's path to it fails and comes back. The listener stays open while cut
 * (connections are accepted and closed), so the port is never given up to someone else.
 */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TTcpProxy> {
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  let down = false;
  const server = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    const pair = { client, upstream };
    pairs.add(pair);
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('tcp proxy has no port');
  const cutAll = (): void => {
    for (const { client, upstream } of pairs) {
      // A reset, not a clean FIN: what a client sees when the server's host goes away.
      client.resetAndDestroy();
      upstream.destroy();
    }
    pairs.clear();
  };
  return {
    port: address.port,
    via: (url) => {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(address.port);
      return u.toString();
    },
    cut: () => {
      down = true;
      cutAll();
    },
    restore: () => {
      down = false;
    },
    open: () => pairs.size,
    close: async () => {
      cutAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A `startTcpProxy` to the Postgres server the tests use (`TEST_DATABASE_URL`'s host and port). */
export function startDatabaseProxy(): Promise<TTcpProxy> {
  const u = new URL(TEST_ADMIN_URL);
  return startTcpProxy({ host: u.hostname || '127.0.0.1', port: Number(u.port || 5432) });
}
