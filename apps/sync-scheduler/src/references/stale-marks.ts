import type { Knex } from '@mikro-orm/postgresql';
import type { Logger } from '@otesse/logging';
import { SYNC_SCHEMA_NAME as S } from '../sync-job.rows';

interface TMarkRow {
  id: string;
  org_id: string;
  instance_id: string;
  connection_id: string | null;
  stale_since: Date | string;
}

/**
 * Turns pending marks into row updates: every reference of the mark's scope that was `synced` at the mark (synced
 * last no later than `stale_since`) becomes `stale` with the mark's `stale_since`. A reference a newer sync wrote
 * after the mark stays `synced`. `wait`: block on a mark another replica is materializing (readers need it done);
 * otherwise skip it (the background loop). Runs in the given transaction, or in its own.
 */
export async function materializeStaleMarks(
  db: Knex | Knex.Transaction,
  opts: {
    instanceId?: string;
    wait: boolean;
    limit?: number;
  },
): Promise<number> {
  const scoped = (q: Knex.QueryBuilder): Knex.QueryBuilder => {
    if (opts.instanceId !== undefined) q.andWhere({ instance_id: opts.instanceId });
    return q;
  };
  if (opts.instanceId !== undefined) {
    // The common case, cheap on the partial index: nothing pending.
    const pending = await scoped(
      db('reference_stale_mark').withSchema(S).whereNull('materialized_at'),
    ).first('id');
    if (!pending) return 0;
  }
  const run = async (trx: Knex.Transaction): Promise<number> => {
    const q = trx('reference_stale_mark')
      .withSchema(S)
      .whereNull('materialized_at')
      .orderBy('stale_since')
      .limit(opts.limit ?? 100)
      .forUpdate()
      .select('id', 'org_id', 'instance_id', 'connection_id', 'stale_since');
    scoped(q);
    if (!opts.wait) q.skipLocked();
    const marks = (await q) as TMarkRow[];
    for (const m of marks) {
      const r = await trx.raw(
        `update ${S}.external_reference set status = 'stale', stale_since = ?
          where org_id = ? and instance_id = ? ${m.connection_id ? 'and connection_id = ?' : ''}
            and status = 'synced' and last_synced_at <= ?`,
        [
          new Date(m.stale_since),
          m.org_id,
          m.instance_id,
          ...(m.connection_id ? [m.connection_id] : []),
          new Date(m.stale_since),
        ],
      );
      await trx('reference_stale_mark')
        .withSchema(S)
        .where({ id: m.id })
        .update({ materialized_at: trx.fn.now(), materialized: r.rowCount ?? 0 });
    }
    return marks.length;
  };
  return 'isTransaction' in db && db.isTransaction
    ? run(db as Knex.Transaction)
    : (db as Knex).transaction(run);
}

/**
 * Materializes marks in the background: right after a mark is written (`trigger`), and every `intervalMs` for
 * marks whose writer died before getting to them. Any number of replicas: each takes marks with SKIP LOCKED.
 */
export class StaleMarkMaterializer {
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private resting: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly knex: Knex,
    private readonly logger: Logger,
    private readonly opts: {
      intervalMs?: number;
      delayMs?: number;
      /**
       * Share of the time the background passes may spend materializing (0 < duty ≤ 1): after a transaction that
       * took t ms the pass rests t × (1/duty − 1) ms, so a burst of disconnects is not slowed by its own marks'
       * row updates. Readers never wait for this: they materialize their instance's marks themselves.
       */
      duty?: number;
      /** Marks per transaction. */
      batch?: number;
      /** Longest rest between two transactions. */
      maxRestMs?: number;
    } = {},
  ) {}

  start(): void {
    this.schedule();
  }

  /**
   * Materialize soon: after `delayMs`, so a burst of disconnects is served first and their marks are taken in one
   * pass (one pass at a time, one more if asked during it).
   */
  trigger(): void {
    if (this.stopped || this.soon) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.passNow();
    }, this.opts.delayMs ?? 200);
  }

  private passNow(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.passNow();
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.soon);
    clearTimeout(this.resting);
    this.wake?.();
    await this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.passNow();
      this.schedule();
    }, this.opts.intervalMs ?? 5_000);
    this.timer.unref();
  }

  private async pass(): Promise<void> {
    const duty = Math.min(1, Math.max(0.01, this.opts.duty ?? 0.5));
    try {
      while (!this.stopped) {
        const started = performance.now();
        const n = await materializeStaleMarks(this.knex, {
          wait: false,
          limit: this.opts.batch ?? 1,
        });
        if (n === 0) return;
        // Capped: after one huge mark, the next marks are not kept waiting for long.
        const rest = Math.min(
          this.opts.maxRestMs ?? 1_000,
          (performance.now() - started) * (1 / duty - 1),
        );
        if (rest > 0)
          await new Promise<void>((resolve) => {
            this.wake = resolve;
            this.resting = setTimeout(resolve, rest);
          });
        this.wake = undefined;
      }
    } catch (e) {
      this.logger.warn({ err: e }, 'materializing stale marks failed; will retry');
    }
  }
}
