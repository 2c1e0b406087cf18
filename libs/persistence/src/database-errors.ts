import { AppError } from '@otesse/contracts';
import { counter } from '@otesse/telemetry';

/**
 * Work this process had to refuse or put off because its database was out of reach (requests answered
 * `database_unavailable`, saga drivers waiting for their log): what an operator alerts on.
 */
export const databaseUnavailableTotal = counter(
  'otesse_database_unavailable_total',
  'Requests answered database_unavailable and saga drivers that had to wait for their log, since start.',
  [],
);

/**
 * SQLSTATEs that say the session or the server went away or cannot take the work now, not that the statement was
 * refused: class 08 (connection exception), the server shutting down or starting (57P01–57P03), no connection
 * slot left (53300), a full disk or no memory (53100, 53200: until an operator steps in). A statement refused for
 * what it asks (a constraint, a bad value, a function's own error) is not here: sending it again would fail again.
 */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '53100', '53200']);
/** The socket could not be opened or was cut (a restart, a failover, a network path going down). */
const UNAVAILABLE_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);
/**
 * What `pg` and knex say without a code: the connection closed under a query, or knex's pool could not hand one
 * out in time (every attempt to open one failed, or every connection is busy).
 */
const UNAVAILABLE_MESSAGES = [
  // knex puts the statement in front of the driver's message: `select … - Connection terminated unexpectedly`.
  /(^|- )Connection terminated( unexpectedly| due to connection timeout)?$/,
  /(^|- )Connection ended unexpectedly$/,
  /Client has encountered a connection error and is not queryable$/,
  /(^|- )timeout expired$/,
];

/**
 * Whether `e` (or an error it wraps) means the database could not be reached: the same statement may well succeed
 * once it is back. Such a failure changed nothing the caller can rely on either way, so the caller retries it
 * under the same idempotency key.
 */
export function isDatabaseUnavailable(e: unknown): boolean {
  let err = e;
  for (let depth = 0; depth < 5 && err && typeof err === 'object'; depth += 1) {
    const { code, name, message } = err as { code?: unknown; name?: unknown; message?: unknown };
    if (typeof code === 'string') {
      // A code decides: a statement the server refused (any other SQLSTATE) is never read from its message.
      if (code.startsWith('08') && code.length === 5) return true;
      if (UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_SOCKET_CODES.has(code)) return true;
    } else {
      if (name === 'KnexTimeoutError') return true;
      if (typeof message === 'string' && UNAVAILABLE_MESSAGES.some((m) => m.test(message)))
        return true;
    }
    err = (err as { cause?: unknown }).cause;
  }
  return false;
}

/** The one error every service answers for an unreachable database: retryable, and naming nothing of it. */
export function databaseUnavailable(cause?: unknown): AppError {
  databaseUnavailableTotal.inc();
  return new AppError('UNAVAILABLE', 'the database is unavailable; try again shortly', {
    reason: 'database_unavailable',
    ...(cause === undefined ? {} : { cause }),
  });
}

/** `e` as the AppError an edge answers with, when it is an unreachable database; otherwise undefined. */
export function databaseErrorToAppError(e: unknown): AppError | undefined {
  return isDatabaseUnavailable(e) ? databaseUnavailable(e) : undefined;
}

/**
 * Runs `fn` again while it fails because the database is out of reach (a restart, a failover), for at most
 * `waitMs` in all (backing off from 100 ms to 1 s between tries); then, or on any other error, throws what it
 * threw. For a caller that cannot simply be asked to try again: a browser at an OAuth callback, whose provider
 * code is single-use and short-lived. `fn` must be safe to run again after such a failure.
 */
export async function whileDatabaseAway<T>(
  fn: () => Promise<T>,
  opts: { waitMs: number; onWait?: (attempt: number) => void },
): Promise<T> {
  const deadline = Date.now() + opts.waitMs;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await fn();
    } catch (e) {
      const pause = Math.min(1_000, 100 * 2 ** (attempt - 1));
      if (!isDatabaseUnavailable(e) || Date.now() + pause > deadline) throw e;
      opts.onWait?.(attempt);
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}
