import { readFileSync } from 'node:fs';
import { connect, type ConnectionOptions, type NatsConnection, type TlsOptions } from 'nats';
import { AppError } from '@otesse/contracts';
import type { Logger } from '@otesse/logging';

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
    // nats.js gives up for good after the same auth error twice in a row, whatever the reconnect policy: one wrong
    // password during a NATS change would leave the process alive but deaf until restarted by hand. A service keeps
    // trying instead (reported as disconnected meanwhile: watchNatsConnection) and recovers once it is put right.
    ignoreAuthErrorAbort: cfg.reconnect !== false,
    // nats.js builds an Error per request for async stack traces: measurable on the hot path, useless in production.
    noAsyncTraces: true,
    ...(cfg.user ? { user: cfg.user, pass: cfg.password ?? '' } : {}),
    ...(cfg.inboxPrefix ? { inboxPrefix: cfg.inboxPrefix } : {}),
    ...(cfg.tls ? { tls: tlsOptions(cfg.tls) } : {}),
  };
  try {
    return await connect(opts);
  } catch (e) {
    throw new AppError(
      'UNAVAILABLE',
      `NATS is not reachable at ${natsServersForLog(cfg.url)} (${whyNot(e, cfg)})`,
      {
        reason: 'nats_unreachable',
        cause: e,
      },
    );
  }
}

/**
 * NATS_URL as a log line or an error may say it: every server of the list (comma-separated, as nats.js takes it)
 * without a user's password.
 */
export function natsServersForLog(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/g, '//$1:***@');
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

/** What a long-lived process watches of its NATS connection (`watchNatsConnection`). */
export interface TNatsWatch {
  /** Connected now (false from a disconnect until the reconnect): what readiness reports. */
  connected(): boolean;
  /** Settles when the connection is closed for good (by `close`/`drain`, or by nats.js), with nats.js' error. */
  closed: Promise<Error | undefined>;
  /** `closed`, except that a close while `stopping()` never settles: the loss a process exits on. */
  lostUnless(stopping: () => boolean): Promise<Error | undefined>;
}

/** Same error repeated (a wrong password at every reconnect attempt): logged again at most this often. */
const REPEATED_ERROR_LOG_MS = 30_000;

/**
 * Logs the connection's life (lost, reconnected, errors such as a refused password — throttled) and tracks whether
 * it is connected now. nats.js reports none of it unless asked, so a process riding out a NATS outage or a wrong
 * password said nothing and looked ready.
 */
export function watchNatsConnection(nc: NatsConnection, logger: Logger): TNatsWatch {
  let connected = !nc.isClosed();
  const lastLogged = new Map<string, number>();
  void (async () => {
    for await (const s of nc.status()) {
      const data = typeof s.data === 'string' ? s.data : undefined;
      switch (s.type) {
        case 'disconnect':
          connected = false;
          logger.warn({ server: data }, 'NATS connection lost; reconnecting');
          break;
        case 'reconnect':
          connected = true;
          lastLogged.clear();
          logger.info({ server: data }, 'NATS connection back');
          break;
        case 'error': {
          // nats.js' error code (AUTHORIZATION_VIOLATION, PERMISSIONS_VIOLATION…).
          const code = data ?? 'unknown';
          const now = Date.now();
          if (now - (lastLogged.get(code) ?? 0) >= REPEATED_ERROR_LOG_MS) {
            lastLogged.set(code, now);
            logger.warn({ natsCode: code }, 'NATS refused or failed the connection; still trying');
          }
          break;
        }
        default:
          break;
      }
    }
  })().catch(() => undefined);
  const closed = nc.closed().then((err) => {
    connected = false;
    return err ?? undefined;
  });
  return {
    connected: () => connected && !nc.isClosed(),
    closed,
    lostUnless: (stopping) =>
      closed.then((err) => (stopping() ? new Promise<never>(() => undefined) : err)),
  };
}
