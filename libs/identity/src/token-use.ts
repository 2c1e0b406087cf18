import type { Knex } from '@mikro-orm/postgresql';
import { queryPrepared } from '@otesse/persistence';

/** How often, at most, one token's `last_used_at` is written: "last used" is accurate to about this much. */
export const TOKEN_USE_INTERVAL_MS = 60_000;

const SCHEMA = 'edge';

/**
 * Writes the database's `now()` into a live token's `last_used_at`. The guard makes it at most one write per token
 * per interval across every edge replica (and a restarted one), and never one for a token revoked meanwhile.
 * Whether the row was written.
 */
export async function recordTokenUse(
  knex: Knex,
  tokenId: string,
  intervalMs: number = TOKEN_USE_INTERVAL_MS,
): Promise<boolean> {
  const { rowCount } = await queryPrepared(
    knex,
    'identity.record-token-use',
    `update "${SCHEMA}".api_token set last_used_at = now()
      where id = $1 and revoked_at is null
        and (last_used_at is null or last_used_at < now() - make_interval(secs => $2))`,
    [tokenId, intervalMs / 1_000],
  );
  return rowCount > 0;
}

/**
 * Records the use of authenticated tokens off the request's path: the first use of a token in an interval starts
 * one write and returns at once; the others of that interval cost a map lookup, no database round trip. A failed
 * write is reported to `onError` and tried again in the next interval (not on the next call: a database outage
 * must not turn every call into a failing write).
 */
export class TokenUseRecorder {
  private readonly written = new Map<string, number>();
  private lastSweep: number;
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(
    private readonly opts: {
      knex: () => Knex;
      onError: (err: unknown, tokenId: string) => void;
      intervalMs?: number;
      /** Milliseconds; the process's clock unless a test moves it. */
      now?: () => number;
    },
  ) {
    this.intervalMs = opts.intervalMs ?? TOKEN_USE_INTERVAL_MS;
    this.now = opts.now ?? Date.now;
    this.lastSweep = this.now();
  }

  /**
   * Notes one use of an authenticated token. The write it starts, if any (it never rejects), for a caller that
   * wants to wait for it; the edge does not.
   */
  record(tokenId: string): Promise<void> | undefined {
    const now = this.now();
    this.sweep(now);
    const last = this.written.get(tokenId);
    if (last !== undefined && now - last < this.intervalMs) return undefined;
    this.written.set(tokenId, now);
    // Started on a later tick, so nothing in it (not even getting the pool) can throw into the caller.
    return Promise.resolve()
      .then(() => recordTokenUse(this.opts.knex(), tokenId, this.intervalMs))
      .then(
        () => undefined,
        (err: unknown) => {
          this.opts.onError(err, tokenId);
        },
      );
  }

  /** Forgets tokens not seen for an interval, once an interval, so the map holds only recently used tokens. */
  private sweep(now: number): void {
    if (now - this.lastSweep < this.intervalMs) return;
    this.lastSweep = now;
    for (const [id, at] of this.written) if (now - at >= this.intervalMs) this.written.delete(id);
  }
}
