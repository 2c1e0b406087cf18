import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';

/**
 * The kernel's ephemeral range: outgoing connections (to Postgres, NATS…) take their local port from it, so a port
 * found free there can be taken by one of them before the service that was given it listens (EADDRINUSE). Test
 * ports come from below it.
 */
function ephemeralStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/);
    const n = Number(low);
    return Number.isFinite(n) && n > 12_000 ? n : 32_768;
  } catch {
    return 32_768;
  }
}

const canListen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });

/** A port free on 127.0.0.1 right now, outside the ephemeral range (see above). */
export async function freePort(): Promise<number> {
  const high = ephemeralStart();
  const low = 10_000;
  for (let i = 0; i < 200; i += 1) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (await canListen(port)) return port;
  }
  throw new Error('no free port below the ephemeral range');
}
