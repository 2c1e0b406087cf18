import { readFileSync } from 'node:fs';
import { connect, type ConnectionOptions, type NatsConnection, type TlsOptions } from 'nats';
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
  /** TLS required (`{}`: the system's CAs); undefined: plaintext, unless the server demands TLS. */
  tls?: TNatsTls | undefined;
}

/** PEM files: the CA that signed the server's certificate, and this process's own certificate and key. */
export interface TNatsTls {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** Read once, here: nats.js would read them at each (re)connect and fail with the file's path alone. */
function tlsOptions(tls: TNatsTls): TlsOptions {
  const read = (what: string, path: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      throw new AppError(
        'BAD_REQUEST',
        `the NATS TLS ${what} ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
        { reason: 'nats_tls_config', cause: e },
      );
    }
  };
  return {
    ...(tls.caFile ? { ca: read('CA file', tls.caFile) } : {}),
    ...(tls.certFile ? { cert: read('certificate', tls.certFile) } : {}),
    ...(tls.keyFile ? { key: read('key', tls.keyFile) } : {}),
  };
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
    ...(cfg.tls ? { tls: tlsOptions(cfg.tls) } : {}),
  };
  try {
    return await connect(opts);
  } catch (e) {
    throw new AppError('UNAVAILABLE', `NATS is not reachable at ${cfg.url} (${whyNot(e, cfg)})`, {
      reason: 'nats_unreachable',
      cause: e,
    });
  }
}

/** What an operator can act on: nats.js names a missing TLS offer only "tls", and a refused port says nothing. */
function whyNot(e: unknown, cfg: TNatsConfig): string {
  const { message, code } = e as { message?: string; code?: string };
  if (code === 'SERVER_OPT_NA' && message === 'tls') {
    return 'the server does not offer TLS, which NATS_TLS* require here';
  }
  if (code === 'CONNECTION_REFUSED' || code === 'ECONNREFUSED') {
    return (
      `${message ?? code}). Start it with: start-stop-daemon --start --oknodo --background --exec ` +
      '/usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log ' +
      '(or set NATS_URL'
    );
  }
  const hint = cfg.tls
    ? ''
    : '; if the server requires TLS, set NATS_TLS_CA_FILE (and a client certificate)';
  return `${message ?? String(e)}${hint}`;
}
