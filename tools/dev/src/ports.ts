import { createServer } from 'node:net';

export interface TNamedPort {
  /** The variable that sets it (what the user changes). */
  variable: string;
  port: number;
}

/** A port npm start needs is taken; the message names the variable to change. */
export class PortInUseError extends Error {
  override name = 'PortInUseError';
}

export function portInUseMessage(taken: TNamedPort[], host: string): string {
  const list = taken.map((t) => `${t.port} (${t.variable})`).join(', ');
  return (
    `${taken.length > 1 ? 'ports' : 'port'} ${list} on ${host} already in use: set ` +
    `${taken.map((t) => `${t.variable}`).join(', ')} to a free port. Another stack (an npm start, docker ` +
    'compose) may be running: a second npm start also needs its own DATABASE_URL database and NATS_URL.'
  );
}

/** Whether each port can be listened on now (0: any port, nothing to check). Throws PortInUseError otherwise. */
export async function assertPortsFree(ports: TNamedPort[], host = '127.0.0.1'): Promise<void> {
  const taken: TNamedPort[] = [];
  for (const p of ports) {
    if (p.port === 0) continue;
    const free = await new Promise<boolean>((resolve, reject) => {
      const server = createServer();
      server.once('error', (e: NodeJS.ErrnoException) =>
        e.code === 'EADDRINUSE' ? resolve(false) : reject(e),
      );
      server.listen({ port: p.port, host, exclusive: true }, () =>
        server.close(() => resolve(true)),
      );
    });
    if (!free) taken.push(p);
  }
  if (taken.length > 0) throw new PortInUseError(portInUseMessage(taken, host));
}

/** A listen that failed with EADDRINUSE anyway (taken between the check and the start), named the same way. */
export function explainListenError(e: unknown, port: TNamedPort, host = '127.0.0.1'): unknown {
  return (e as NodeJS.ErrnoException).code === 'EADDRINUSE'
    ? new PortInUseError(portInUseMessage([port], host))
    : e;
}
