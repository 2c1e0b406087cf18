import { connect, type ConnectionOptions, type NatsConnection } from 'nats';
import { AppError } from '@otesse/contracts';

export interface TNatsConfig {
  url: string;
  name: string;
  user?: string | undefined;
  password?: string | undefined;
  /** Per-service reply subject prefix, so NATS permissions can keep services out of each other's replies. */
  inboxPrefix?: string | undefined;
  /** Keep reconnecting forever once connected (services ride out a NATS restart). */
  reconnect?: boolean;
}

/** Connects or fails with a message that says where it looked and how to start NATS locally. */
export async function connectNats(cfg: TNatsConfig): Promise<NatsConnection> {
  const opts: ConnectionOptions = {
    servers: cfg.url.split(','),
    name: cfg.name,
    maxReconnectAttempts: cfg.reconnect === false ? 0 : -1,
    reconnectTimeWait: 250,
    // nats.js builds an Error per request for async stack traces: measurable on the hot path, useless in production.
    noAsyncTraces: true,
    ...(cfg.user ? { user: cfg.user, pass: cfg.password ?? '' } : {}),
    ...(cfg.inboxPrefix ? { inboxPrefix: cfg.inboxPrefix } : {}),
  };
  try {
    return await connect(opts);
  } catch (e) {
    throw new AppError(
      'UNAVAILABLE',
      `NATS is not reachable at ${cfg.url} (${(e as Error).message}). Start it with: ` +
        'start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js ' +
        '-sd /var/lib/nats-server -l /var/log/nats-server.log (or set NATS_URL)',
      { reason: 'nats_unreachable', cause: e },
    );
  }
}
