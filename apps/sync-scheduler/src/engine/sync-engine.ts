import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Knex } from '@mikro-orm/postgresql';
import type { NatsConnection, Subscription } from 'nats';
import { SYNC_CANCEL_SIGNAL_SUBJECT, ZSyncCancelSignal } from '@otesse/contracts';
import type { Logger } from '@otesse/logging';
import { decodeJson, type Bus } from '@otesse/messaging';
import type { Catalogue } from '@otesse/providers';
import { claimDueJobs, sweepExpiredLeases, type TClaimedExecution } from './claim';
import { ExecutionControl } from './execution-control';
import { runExecution, type TRunnerDeps } from './run-execution';

export interface TSyncEngineConfig {
  /** false: endpoints only, this replica never claims or runs anything. */
  enabled: boolean;
  /** Lease owner written on the executions this replica runs (unique per replica). */
  instanceId: string;
  /** Sweep + claim period; a "run now" or a finished execution triggers a tick at once. */
  tickMs: number;
  leaseMs: number;
  /** How often a runner renews its lease (default leaseMs / 3). */
  heartbeatMs: number;
  /** Jobs claimed per transaction. */
  claimBatch: number;
  /** Executions this replica runs at once. */
  concurrency: number;
  /** Records per page and batch; undefined = the catalogue's dataApi.pageSize. */
  pageSize: number | undefined;
  pageTimeoutMs: number;
  maxTakeovers: number;
  /** Graceful stop: how long running executions get to finish their batch before their fetch is aborted. */
  stopTimeoutMs: number;
}

export function engineConfig(partial: Partial<TSyncEngineConfig> = {}): TSyncEngineConfig {
  const leaseMs = partial.leaseMs ?? 30_000;
  return {
    enabled: partial.enabled ?? true,
    instanceId:
      partial.instanceId ??
      `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`.slice(0, 100),
    tickMs: partial.tickMs ?? 1_000,
    leaseMs,
    heartbeatMs: partial.heartbeatMs ?? Math.max(50, Math.floor(leaseMs / 3)),
    claimBatch: partial.claimBatch ?? 10,
    concurrency: partial.concurrency ?? 4,
    pageSize: partial.pageSize,
    pageTimeoutMs: partial.pageTimeoutMs ?? 30_000,
    maxTakeovers: partial.maxTakeovers ?? 2,
    stopTimeoutMs: partial.stopTimeoutMs ?? 8_000,
  };
}

const SAMPLES = 10_000;

/**
 * The scheduler loop of one replica: every tick it fails executions past their takeover limit, takes over expired
 * leases, and claims due jobs into free slots (claim.ts); each claim runs as its own task (run-execution.ts).
 * Cancellation arrives on a core NATS broadcast every replica subscribes to. Stopping stops claiming, lets each
 * running execution finish the batch it is writing and releases its lease for another replica to resume.
 */
export class SyncEngine {
  private readonly running = new Map<string, { ctl: ExecutionControl; task: Promise<void> }>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private again = false;
  private stopping = false;
  private sub: Subscription | undefined;
  private readonly claimMs: number[] = [];
  private claims = 0;
  private jobsClaimed = 0;
  private finished = 0;
  private takeovers = 0;

  constructor(
    private readonly deps: {
      knex: Knex;
      nc: NatsConnection;
      bus: Bus;
      catalogue: Catalogue;
      logger: Logger;
    },
    readonly cfg: TSyncEngineConfig,
  ) {}

  start(): void {
    if (!this.cfg.enabled) return;
    this.sub = this.deps.nc.subscribe(SYNC_CANCEL_SIGNAL_SUBJECT, {
      callback: (err, msg) => {
        if (err) return;
        const body = decodeJson(msg.data);
        const signal = body.ok ? ZSyncCancelSignal.safeParse(body.value) : undefined;
        if (signal?.success) this.cancel(signal.data.executionIds);
      },
    });
    this.schedule(0);
    this.deps.logger.info(
      { instanceId: this.cfg.instanceId, tickMs: this.cfg.tickMs, leaseMs: this.cfg.leaseMs },
      'sync engine started',
    );
  }

  /** Stops the runners of these executions before their next page (their rows are already `cancelled`). */
  cancel(executionIds: readonly string[]): void {
    for (const id of executionIds) this.running.get(id)?.ctl.cancel();
  }

  /** Tick as soon as possible (a "run now", a finished execution). */
  wake(): void {
    if (!this.cfg.enabled || this.stopping) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.schedule(0);
  }

  stats() {
    const sorted = [...this.claimMs].sort((a, b) => a - b);
    const pct = (p: number) =>
      sorted.length === 0
        ? null
        : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? null);
    return {
      instanceId: this.cfg.instanceId,
      running: this.running.size,
      claims: {
        count: this.claims,
        jobsClaimed: this.jobsClaimed,
        p50Ms: pct(50),
        p99Ms: pct(99),
      },
      executionsFinished: this.finished,
      takeovers: this.takeovers,
    };
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking;
    this.sub?.unsubscribe();
    for (const { ctl } of this.running.values()) ctl.stop();
    const all = Promise.all([...this.running.values()].map((r) => r.task));
    const timeout = new Promise<'timeout'>((r) =>
      setTimeout(() => r('timeout'), this.cfg.stopTimeoutMs).unref(),
    );
    if ((await Promise.race([all, timeout])) === 'timeout') {
      for (const { ctl } of this.running.values()) ctl.forceStop();
      await all;
    }
    this.deps.logger.info({ instanceId: this.cfg.instanceId }, 'sync engine stopped');
  }

  private schedule(ms: number): void {
    if (this.stopping) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.ticking = this.tick().finally(() => {
        this.ticking = undefined;
        const again = this.again;
        this.again = false;
        this.schedule(again ? 0 : this.cfg.tickMs);
      });
    }, ms);
  }

  private async tick(): Promise<void> {
    try {
      const free = () => this.cfg.concurrency - this.running.size;
      const { failed, taken } = await sweepExpiredLeases(this.deps.knex, {
        owner: this.cfg.instanceId,
        leaseMs: this.cfg.leaseMs,
        limit: Math.max(0, free()),
        maxTakeovers: this.cfg.maxTakeovers,
      });
      if (failed > 0) this.deps.logger.warn({ failed }, 'failed executions whose leases expired');
      if (taken.length > 0) {
        this.takeovers += taken.length;
        this.deps.logger.warn(
          { executionIds: taken.map((t) => t.executionId) },
          'took over executions whose leases expired',
        );
      }
      for (const t of taken) this.launch(t);
      const limit = Math.min(free(), this.cfg.claimBatch);
      if (limit <= 0 || this.stopping) return;
      const started = performance.now();
      const claimed = await claimDueJobs(this.deps.knex, {
        owner: this.cfg.instanceId,
        leaseMs: this.cfg.leaseMs,
        limit,
      });
      this.claims += 1;
      if (claimed.length > 0) {
        if (this.claimMs.length >= SAMPLES) this.claimMs.shift();
        this.claimMs.push(performance.now() - started);
        this.jobsClaimed += claimed.length;
      }
      for (const c of claimed) this.launch(c);
      // A full claim means more may be due: claim again right away while slots are free.
      if (claimed.length === limit && free() > 0) this.again = true;
    } catch (err) {
      this.deps.logger.warn({ err }, 'sync engine tick failed');
    }
  }

  private launch(claim: TClaimedExecution): void {
    const ctl = new ExecutionControl();
    const runnerDeps: TRunnerDeps = {
      knex: this.deps.knex,
      bus: this.deps.bus,
      catalogue: this.deps.catalogue,
      logger: this.deps.logger,
      owner: this.cfg.instanceId,
      leaseMs: this.cfg.leaseMs,
      heartbeatMs: this.cfg.heartbeatMs,
      pageSize: this.cfg.pageSize,
      pageTimeoutMs: this.cfg.pageTimeoutMs,
    };
    const task = runExecution(runnerDeps, claim, ctl)
      .then(
        (result) => {
          this.deps.logger.debug({ executionId: claim.executionId, result }, 'runner done');
        },
        (err: unknown) => {
          this.deps.logger.error({ err, executionId: claim.executionId }, 'runner crashed');
        },
      )
      .finally(() => {
        this.running.delete(claim.executionId);
        this.finished += 1;
        this.wake();
      });
    this.running.set(claim.executionId, { ctl, task });
  }
}
