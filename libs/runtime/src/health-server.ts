import { createServer, type Server } from 'node:http';

export interface THealthServer {
  port: number;
  close(): Promise<void>;
}

/** `/healthz` (process alive) and `/readyz` (dependencies usable) for orchestrators and compose healthchecks. */
export async function startHealthServer(
  port: number,
  ready: () => Promise<{ ok: boolean; checks: Record<string, boolean> }>,
): Promise<THealthServer> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      if (req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
        return;
      }
      if (req.url === '/readyz') {
        const r = await ready().catch(() => ({ ok: false, checks: {} }));
        res
          .writeHead(r.ok ? 200 : 503, { 'content-type': 'application/json' })
          .end(JSON.stringify(r));
        return;
      }
      res.writeHead(404).end();
    })();
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
