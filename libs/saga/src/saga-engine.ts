import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { MikroORM, Knex } from '@mikro-orm/postgresql';
import { AppError } from '@otesse/contracts';
import {
  databaseTimeIn,
  databaseUnavailableTotal,
  isDatabaseUnavailable,
  queryPrepared,
} from '@otesse/persistence';
import type { Logger } from '@otesse/logging';
import type { TSagaStatus, TStepKind, TStepStatus } from './saga.entity';
import { OPEN_SAGA_STATUSES } from './saga.entity';
import type { TResumedBy, TSagaDefinition, TSagaError, TStepDefinition } from './saga-definition';
import { GroupCommit } from './group-commit';
import { uuidV7 } from '@otesse/runtime';

export interface TSagaEngineOptions {
  orm: MikroORM;
  schema: string;
  logger: Logger;
  /** Who holds leases (process instance id). */
  owner?: string;
  /** A saga whose owner stops renewing is claimed by another replica after this long. */
  leaseMs?: number;
  /** How often expired leases are looked for. 0 disables the recovery loop (tests drive it by hand). */
  recoveryIntervalMs?: number;
  /**
   * Retry delays: `baseMs` doubling with each attempt, jittered. Retries that end in a compensation (before the
   * pivot) stop growing at `maxMs` (default 2 s): their total bounds how long a user waits for "failed". Retries
   * that go on until done (past the pivot, compensations, hooks) grow on to `untilDoneMaxMs` (default 30 s): they
   * last as long as an outage does, and each costs the log statements.
   */
  backoff?: { baseMs?: number; maxMs?: number; untilDoneMaxMs?: number };
  /**
   * Before the pivot, a step whose service is away (UNAVAILABLE: no responders, or its database out of reach) is
   * retried for at least this long from its first such failure, whatever its `maxAttempts`: a restart or a rolling
   * deploy (seconds) then delays the saga instead of undoing it. Default 10 s; 0: only `maxAttempts` counts.
   */
  unavailableRetryMs?: number;
  /**
   * Reopen sagas stopped past their pivot on their own: `afterMs` after the stop, doubling with each resume up to
   * `maxDelayMs` (a cause fixed by a rollback needs nobody; one that is not stops again, less and less often).
   * Unset: only `resume()` reopens them. Checked by the recovery loop.
   */
  autoResume?: { afterMs: number; maxDelayMs: number };
}

export interface TSagaStepView {
  name: string;
  kind: TStepKind;
  status: TStepStatus;
  attempts: number;
  result: Record<string, unknown> | null;
  error: Record<string, unknown> | null;
  startedAt: string | null;
  completedAt: string | null;
  compensatedAt: string | null;
}

export interface TSagaView {
  id: string;
  type: string;
  subjectKey: string;
  status: TSagaStatus;
  currentStep: string | null;
  definitionVersion: number;
  orgId: string;
  actorUserId: string;
  input: Record<string, unknown>;
  result: Record<string, unknown> | null;
  error: TSagaError | null;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
  /** How many times it was resumed after stopping (`failed`) past its pivot. */
  resumedCount: number;
  steps: TSagaStepView[];
}

/** A saga in a list, without its steps: what an operations page shows. */
export type TSagaSummary = Omit<TSagaView, 'steps' | 'definitionVersion' | 'orgId' | 'result'> & {
  /** The first step's result (a disconnect's lock step names its target). */
  firstStepResult: Record<string, unknown> | null;
};

/** What `list()` filters on; pages go from newest to oldest, `before` the last item of the previous page. */
export interface TSagaListQuery {
  orgId: string;
  /**
   * Only the sagas this user takes part in: started them, or owns what they act on — by the convention that a saga
   * names the owner of its subject in `input.ownerUserId` or in its first step's `result.target.ownerUserId`.
   */
  participantUserId?: string | undefined;
  statuses?: readonly TSagaStatus[] | undefined;
  types?: readonly string[] | undefined;
  limit: number;
  before?: { createdAt: string; id: string } | undefined;
}

/** Emitted as `'step'` after every attempt of a step or compensation (for metrics and traces). */
export interface TSagaStepEvent {
  sagaId: string;
  type: string;
  step: string;
  phase: 'forward' | 'compensate';
  outcome: 'succeeded' | 'failed';
  attempt: number;
  retryable: boolean;
  durationMs: number;
  /** The saga's trace id when its input carries one. */
  traceId: string | undefined;
}

/** Emitted as `'saga'` when a saga reaches a terminal status. */
export interface TSagaEndEvent {
  sagaId: string;
  type: string;
  status: TSagaStatus;
  /** From the saga's creation to now. */
  durationMs: number;
  traceId: string | undefined;
}

const TERMINAL: ReadonlySet<TSagaStatus> = new Set(['completed', 'compensated', 'failed']);
export const isTerminal = (s: TSagaStatus): boolean => TERMINAL.has(s);

type TAnyDefinition = TSagaDefinition<Record<string, unknown>>;

interface TSagaRow {
  id: string;
  type: string;
  subject_key: string;
  status: TSagaStatus;
  current_step: string | null;
  definition_version: number;
  org_id: string;
  actor_user_id: string;
  input: Record<string, unknown>;
  result: Record<string, unknown> | null;
  error: TSagaError | null;
  created_at: string | Date;
  updated_at: string | Date;
  completed_at: string | Date | null;
  resumed_count: number;
}

type TOwnedSagaRow = TSagaRow & { owner: string | null };

/** A step that succeeded (or was skipped: its `when` said no), waiting to be written with the next transition. */
interface TDone {
  name: string;
  result: Record<string, unknown> | null;
  status?: 'skipped';
}

/** Steps a forward pass does not run again: they succeeded, or their condition skipped them. */
const isSettled = (row: TStepRow | undefined): boolean =>
  row?.status === 'succeeded' || row?.status === 'skipped';
/** A step about to start, with its attempt number. */
interface TNext {
  name: string;
  attempts: number;
}
/** One saga's transition: the steps that succeeded since the last write, and the start of the next. */
interface TTransition {
  id: string;
  current_step: string | null;
  done: TDone[];
  next: TNext[];
}
/** One saga's end: its terminal status, result or error, and its last steps' success. */
interface TEnd {
  id: string;
  status: TSagaStatus;
  result: Record<string, unknown> | null;
  error: TSagaError | null;
  done: TDone[];
}

/** The steps in stages: a `concurrent` step runs in the stage of the step before it. */
function stagesOf<T>(steps: TStepDefinition<T>[]): TStepDefinition<T>[][] {
  const stages: TStepDefinition<T>[][] = [];
  for (const step of steps) {
    const last = stages[stages.length - 1];
    if (step.concurrent && last) last.push(step);
    else stages.push([step]);
  }
  return stages;
}

/**
 * The statuses of a saga a new request for its subject joins instead of starting another: open ones, a completed one
 * (`reuseCompleted`) and one that stopped past its pivot (`reuseFailed`: the caller resumes it).
 */
const reusableStatuses = (reuseCompleted: boolean, reuseFailed = false): string[] => [
  ...OPEN_SAGA_STATUSES,
  ...(reuseCompleted ? ['completed'] : []),
  ...(reuseFailed ? ['failed'] : []),
];

/** How a forward pass ended. */
type TForwardOutcome =
  { status: 'completed' | 'failed' | 'stopped' } | { status: 'compensating'; error: TSagaError };

interface TStepRow {
  name: string;
  kind: TStepKind;
  seq: number;
  status: TStepStatus;
  attempts: number;
  effect_possible: boolean;
  result: Record<string, unknown> | null;
  error: Record<string, unknown> | null;
  started_at: string | Date | null;
  completed_at: string | Date | null;
  compensated_at: string | Date | null;
}

const iso = (d: string | Date | null): string | null =>
  d === null ? null : new Date(d).toISOString();
const traceIdOf = (saga: TSagaRow): string | undefined => {
  const t = saga.input['traceId'];
  return typeof t === 'string' ? t : undefined;
};
/**
 * JSON for the log. Postgres jsonb refuses the NUL character (`\u0000`), which text from a provider can carry: it is
 * written as U+FFFD, so a step's result can always be recorded (a refused write would stall the saga for good).
 */
const logJson = (v: unknown): string =>
  JSON.stringify(v).replace(/(?<!\\)((?:\\\\)*)\\u0000/g, '$1\\ufffd');

/** A SQL text expression as a uuid, or null when it is not one (a log write must never fail on a caller's value). */
const uuidOrNull = (expr: string): string =>
  `case when (${expr}) ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then (${expr})::uuid end`;

class StepTimeout extends AppError {
  constructor(step: string, ms: number) {
    super('TIMEOUT', `step ${step} timed out after ${ms} ms`, { reason: 'step_timeout' });
  }
}

function toSagaError(step: string, e: unknown): TSagaError {
  if (e instanceof AppError)
    return { step, code: e.code, reason: e.reason ?? null, message: e.message };
  return { step, code: 'INTERNAL', reason: null, message: 'internal error' };
}

/** Transport failures where the command certainly never reached a service (no compensation needed). */
function certainlyUndelivered(e: unknown): boolean {
  return e instanceof AppError && e.code === 'UNAVAILABLE' && e.reason === 'no_responders';
}

/** The receiving service is away (not slow: a timeout may be a hang, and keeps to `maxAttempts`). */
function serviceAway(e: unknown): boolean {
  return e instanceof AppError && e.code === 'UNAVAILABLE';
}

/**
 * Durable sagas over a Postgres log: every step is recorded as started before its command is sent and its
 * outcome recorded after; a business failure before the pivot compensates in reverse order; timeouts and
 * "no responders" are retried with backoff; after the pivot the saga only moves forward. A process that dies
 * mid-saga stops renewing its lease; any replica's recovery loop claims it (FOR UPDATE SKIP LOCKED) and finishes.
 */
export class SagaEngine extends EventEmitter {
  readonly owner: string;
  private readonly defs = new Map<string, TAnyDefinition>();
  private readonly leaseMs: number;
  private readonly backoff: { baseMs: number; maxMs: number; untilDoneMaxMs: number };
  private readonly unavailableRetryMs: number;
  /** Wakes the drivers waiting out a retry's delay: a stop must not wait for a delay of tens of seconds. */
  private readonly sleepers = new Set<() => void>();
  private readonly driving = new Map<string, Promise<void>>();
  /**
   * Sagas this process is running, whose leases it renews: all of them in one statement every third of a lease
   * (`renewLeases`), not one statement per saga — two thousand sagas waiting out an outage past their pivot cost one
   * statement every 5 s, not 400 a second.
   */
  private readonly leased = new Set<string>();
  private leaseRenewal: NodeJS.Timeout | undefined;
  /** Sagas whose lease another replica took while this process was driving them. */
  private readonly lost = new Set<string>();
  private recoveryTimer: NodeJS.Timeout | undefined;
  /** The rows of sagas this process started and drives in the same pass (steps see `resumed: false`). */
  private readonly freshPasses = new WeakSet<TSagaRow>();
  /**
   * Sagas whose driver met an unreachable database (the log could not be read or written), waiting to be driven
   * again: the delay of the next try and its timer.
   */
  private readonly redrives = new Map<string, { delayMs: number; timer?: NodeJS.Timeout }>();
  private nextAutoResumeCheck = 0;
  private nextUnknownCheck = 0;
  /**
   * Sagas of a definition this process does not register that it has already reported (once per saga, not per
   * tick); only those still found are kept, so it stays as small as one report.
   */
  private reportedUnknown = new Set<string>();
  private stopped = false;
  /** Transitions and ends of all the sagas this process drives, group-committed. */
  private readonly transitions = new GroupCommit<TTransition, boolean>((items) =>
    this.writeTransitions(items),
  );
  private readonly ends = new GroupCommit<TEnd, (TSagaRow & { steps: TStepRow[] }) | undefined>(
    (items) => this.writeEnds(items),
  );

  constructor(private readonly opts: TSagaEngineOptions) {
    super();
    this.setMaxListeners(0);
    this.owner = opts.owner ?? `edge-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.leaseMs = opts.leaseMs ?? 15_000;
    this.backoff = {
      baseMs: opts.backoff?.baseMs ?? 100,
      maxMs: opts.backoff?.maxMs ?? 2_000,
      untilDoneMaxMs: opts.backoff?.untilDoneMaxMs ?? 30_000,
    };
    this.unavailableRetryMs = opts.unavailableRetryMs ?? 10_000;
  }

  register<TInput extends Record<string, unknown>>(def: TSagaDefinition<TInput>): void {
    const pivot = def.steps.findIndex((s) => s.kind === 'pivot');
    for (const [i, step] of def.steps.entries()) {
      // Concurrent steps never compensate, so they must all come after the pivot (the first of the stage too).
      if (step.concurrent && (pivot < 0 || i - 1 <= pivot || step.kind !== 'retriable'))
        throw new Error(
          `saga ${def.type}: concurrent step ${step.name} must follow a step after the pivot`,
        );
      // A skipped step has nothing to compensate and reads only final results: after the pivot too.
      if (step.when && (pivot < 0 || i <= pivot || step.kind !== 'retriable'))
        throw new Error(
          `saga ${def.type}: conditional step ${step.name} must come after the pivot`,
        );
      // Only the pivot may be ambiguous and still compensate: a step after it never does.
      if (step.provesNoEffect && step.kind !== 'pivot')
        throw new Error(`saga ${def.type}: only the pivot may say what proves it did nothing`);
    }
    this.defs.set(`${def.type}@${def.version}`, def as unknown as TAnyDefinition);
  }

  /**
   * The `(type, definition_version)` pairs this process can drive, as two arrays for `unnest`: recovery and automatic
   * resumes claim only those, so in a mixed-version rollout (or after a rollback) an edge never takes a saga whose
   * definition it lacks from the edges that have it.
   */
  private registered(): { types: string[]; versions: number[] } {
    const defs = [...this.defs.values()];
    return { types: defs.map((d) => d.type), versions: defs.map((d) => d.version) };
  }

  private knex(): Knex {
    return this.opts.orm.em.getConnection().getKnex();
  }

  /** The quoted schema, for the few hand-written statements (the schema is configuration, never input). */
  private q(): string {
    return `"${this.opts.schema.replace(/"/g, '""')}"`;
  }

  /**
   * The hot path's statements (start, transitions, end, view) are named so each pool connection prepares them once;
   * the name carries the schema, since the text does.
   */
  private async sql<R extends object>(name: string, text: string, values: unknown[]): Promise<R[]> {
    return (await queryPrepared<R>(this.knex(), `saga.${name}:${this.opts.schema}`, text, values))
      .rows;
  }

  private t(table: 'saga' | 'saga_step', k: Knex | Knex.Transaction = this.knex()) {
    return k(table).withSchema(this.opts.schema);
  }

  /**
   * A lease's end in the database's time. Leases are set by one edge and judged by every other: with each edge's own
   * clock, an edge running ahead would take live sagas from the others and one running behind would leave its
   * dead sagas unclaimed for as long as it is off. The database's clock is the one they share.
   */
  private leaseEnd(k: Knex | Knex.Transaction = this.knex()): Knex.Raw {
    return databaseTimeIn(k, this.leaseMs);
  }

  startRecovery(): void {
    const every = this.opts.recoveryIntervalMs ?? 1_000;
    if (every <= 0 || this.recoveryTimer) return;
    const tick = (): void => {
      if (this.stopped) return;
      this.recoverOnce()
        .then(() => this.autoResumeIfDue())
        .then(() => this.reportUnknownIfDue())
        .catch((e: unknown) =>
          // Every second while the database is away: one short line each, not the driver's stack.
          isDatabaseUnavailable(e)
            ? this.opts.logger.warn({ reason: 'database_unavailable' }, 'saga recovery failed')
            : this.opts.logger.warn({ err: e }, 'saga recovery failed'),
        )
        .finally(() => {
          if (!this.stopped) this.recoveryTimer = setTimeout(tick, every);
        });
    };
    this.recoveryTimer = setTimeout(tick, every);
  }

  /** Stops claiming; waits for the sagas this process drives to reach a terminal state or a safe point. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.recoveryTimer) clearTimeout(this.recoveryTimer);
    for (const { timer } of this.redrives.values()) clearTimeout(timer);
    this.redrives.clear();
    for (const wake of [...this.sleepers]) wake();
    await Promise.allSettled([...this.driving.values()]);
    // A graceful stop hands its unfinished sagas over at once instead of after the lease runs out.
    await this.t('saga')
      .where({ owner: this.owner })
      .whereIn('status', OPEN_SAGA_STATUSES)
      .update({ lease_expires_at: this.knex().fn.now(), updated_at: this.knex().fn.now() })
      .catch((e: unknown) => this.opts.logger.warn({ err: e }, 'releasing saga leases failed'));
  }

  /**
   * Starts a saga unless one already exists for the subject that is open or completed (a disconnect happens once
   * per connection): then that one is returned. Concurrent callers race on the unique index of open sagas.
   */
  async start<TInput extends Record<string, unknown>>(
    def: TSagaDefinition<TInput>,
    args: {
      subjectKey: string;
      orgId: string;
      actorUserId: string;
      input: TInput;
      reuseCompleted?: boolean;
      /**
       * Return the subject's saga that stopped past its pivot (`failed`) instead of starting another: what is left
       * of it is the work a new request asks for, and the caller decides whether to resume it.
       */
      reuseFailed?: boolean;
      /** Choose the id up front (to stage in-memory data the steps look up by saga id). */
      sagaId?: string;
    },
  ): Promise<{ sagaId: string; created: boolean }> {
    // Time-ordered: the log's keys, and every service's idempotency keys (`<sagaId>:<step>`), grow at the right
    // edge of their indexes instead of landing on random pages.
    const id = args.sagaId ?? uuidV7();
    const reusable = reusableStatuses(args.reuseCompleted ?? true, args.reuseFailed);
    let inserted = true;
    let createdAt = new Date();
    try {
      // One statement: the reusable saga of the subject if there is one; else the saga, its steps, and its first
      // step already `running` (the driver sends that step's command next, exactly as if it had recorded the start
      // itself).
      const S = this.q();
      const [row] = await this.sql<{
        existing: string | null;
        inserted: string | null;
        created_at: Date | null;
      }>(
        'start',
        `with existing as (
           select id from ${S}.saga where type = $1::text and subject_key = $2::text and status = any($3::text[])
            order by created_at desc limit 1),
         s as (
           insert into ${S}.saga (id, type, subject_key, status, current_step, owner, lease_expires_at,
             definition_version, org_id, actor_user_id, input, result, error, created_at, updated_at, completed_at,
             owner_user_id)
           select $4::uuid, $1, $2, 'running', $5::text, $6::text, now() + $7::float8 * interval '1 millisecond',
             $8::int, $9::uuid, $10::uuid, $11::jsonb, null, null, now(), now(), null,
             ${uuidOrNull(`$11::jsonb->>'ownerUserId'`)}
            where not exists (select 1 from existing)
           returning id, created_at),
         steps as (
           insert into ${S}.saga_step (id, saga_id, seq, name, kind, status, attempts, idempotency_key,
             effect_possible, result, error, started_at, completed_at, compensated_at)
           select x.id, s.id, x.seq, x.name, x.kind, x.status, x.attempts, s.id || ':' || x.name,
             false, null, null, case when x.status = 'running' then now() end, null, null
             from s, jsonb_to_recordset($12::jsonb)
               as x(id uuid, seq int, name text, kind text, status text, attempts int))
         select (select id from existing) as existing, (select id from s) as inserted,
           (select created_at from s) as created_at`,
        [
          def.type,
          args.subjectKey,
          reusable,
          id,
          def.steps[0]?.name ?? null,
          this.owner,
          this.leaseMs,
          def.version,
          args.orgId,
          args.actorUserId,
          logJson(args.input),
          JSON.stringify(
            def.steps.map((st, seq) => ({
              id: uuidV7(),
              seq,
              name: st.name,
              kind: st.kind,
              status: seq === 0 ? 'running' : 'pending',
              attempts: seq === 0 ? 1 : 0,
            })),
          ),
        ],
      );
      if (row?.existing) return { sagaId: row.existing, created: false };
      if (row?.created_at) createdAt = new Date(row.created_at);
    } catch (e) {
      // The unique index of open sagas: a concurrent request started one first.
      if ((e as { code?: string }).code !== '23505') throw e;
      inserted = false;
    }
    if (!inserted) {
      const other = await this.findReusable(
        def.type,
        args.subjectKey,
        reusableStatuses(args.reuseCompleted ?? true, args.reuseFailed),
      );
      if (!other)
        throw new AppError('CONFLICT', 'another saga holds this subject', {
          reason: 'saga_conflict',
        });
      return { sagaId: other, created: false };
    }
    this.drive(id, {
      id,
      type: def.type,
      subject_key: args.subjectKey,
      status: 'running',
      current_step: def.steps[0]?.name ?? null,
      definition_version: def.version,
      org_id: args.orgId,
      actor_user_id: args.actorUserId,
      input: args.input,
      result: null,
      error: null,
      created_at: createdAt,
      updated_at: createdAt,
      completed_at: null,
      resumed_count: 0,
      owner: this.owner,
    });
    return { sagaId: id, created: true };
  }

  private async findReusable(
    type: string,
    subjectKey: string,
    statuses: string[],
  ): Promise<string | undefined> {
    const row = (await this.t('saga')
      .where({ type, subject_key: subjectKey })
      .whereIn('status', statuses)
      .orderBy('created_at', 'desc')
      .first('id')) as { id: string } | undefined;
    return row?.id;
  }

  /**
   * Resumes a saga that stopped past its pivot (`failed`: a step kept failing with an error retrying could not fix,
   * e.g. a service's bug or a broken migration, now fixed): it runs again from the step that stopped it, each step
   * with a fresh budget of attempts, under this process's lease. Steps that succeeded are not run again; the one
   * that failed is sent again under its idempotency key. `false` when the saga is not `failed` (any more: two
   * resumes race on the row). CONFLICT when another saga of the subject is open meanwhile.
   */
  async resume(sagaId: string, by: TResumedBy): Promise<boolean> {
    const S = this.q();
    const [stopped] = await this.sql<
      TSagaRow & { first_step_result: Record<string, unknown> | null }
    >(
      'stopped',
      `select s.*, ${this.firstStepResultSql('s')} as first_step_result
         from ${S}.saga s where s.id = $1 and s.status = 'failed'`,
      [sagaId],
    );
    if (!stopped) return false;
    const def = this.defs.get(`${stopped.type}@${stopped.definition_version}`);
    // Reopened here, nothing would drive it (nor audit the resume): it would show "in progress" and leave the stopped
    // list while its subject stays locked. An edge that has the definition resumes it.
    if (!def)
      throw new AppError(
        'PRECONDITION_FAILED',
        `this edge does not run version ${stopped.definition_version} of ${stopped.type}; try again later`,
        {
          reason: 'unknown_definition',
          details: { sagaId, type: stopped.type, definitionVersion: stopped.definition_version },
        },
      );
    // Before the row changes: the resume is on record (audited) before anything runs again.
    await def.onResumed?.({
      sagaId,
      input: stopped.input,
      orgId: stopped.org_id,
      actorUserId: stopped.actor_user_id,
      resumedBy: by,
      resumedCount: stopped.resumed_count + 1,
      stoppedAtStep: stopped.error?.step ?? 'unknown',
      firstStepResult: stopped.first_step_result,
    });
    let row: TOwnedSagaRow | undefined;
    try {
      [row] = await this.sql<TOwnedSagaRow>(
        'resume',
        `update ${this.q()}.saga set status = 'running', error = null, completed_at = null, owner = $2,
            lease_expires_at = now() + $3::float8 * interval '1 millisecond', resumed_count = resumed_count + 1,
            updated_at = now()
          where id = $1 and status = 'failed' returning *`,
        [sagaId, this.owner, this.leaseMs],
      );
    } catch (e) {
      if ((e as { code?: string }).code !== '23505') throw e;
      throw new AppError('CONFLICT', 'another saga of this subject is in progress', {
        reason: 'saga_conflict',
      });
    }
    if (!row) return false;
    this.opts.logger.info(
      { sagaId, resumedCount: row.resumed_count, automatic: by === null },
      'saga resumed',
    );
    void this.drive(sagaId);
    return true;
  }

  /**
   * The org's sagas, newest first, without their steps (one indexed statement). A participant's: those they started
   * and those on their connections, each read newest first by its own index and cut at the page, then merged.
   */
  async list(q: TSagaListQuery): Promise<TSagaSummary[]> {
    const S = this.q();
    const filters = `s.org_id = $1
          and ($3::text[] is null or s.status = any($3))
          and ($4::text[] is null or s.type = any($4))
          and ($5::timestamptz is null or (s.created_at, s.id) < ($5, $6::uuid))`;
    const page = (who: string) =>
      `(select s.id from ${S}.saga s where ${filters} and ${who}
         order by s.created_at desc, s.id desc limit $7)`;
    const rows = await this.sql<TSagaRow & { first_step_result: Record<string, unknown> | null }>(
      q.participantUserId === undefined ? 'list' : 'list-participant',
      `select s.id, s.type, s.subject_key, s.status, s.current_step, s.actor_user_id, s.input, s.error,
              s.resumed_count, s.created_at, s.updated_at, s.completed_at,
              ${this.firstStepResultSql('s')} as first_step_result
         from ${S}.saga s
        where ${
          q.participantUserId === undefined
            ? `${filters} and $2::uuid is null`
            : `s.id in (${page('s.actor_user_id = $2::uuid')} union ${page('s.owner_user_id = $2::uuid')})`
        }
        order by s.created_at desc, s.id desc
        limit $7`,
      [
        q.orgId,
        q.participantUserId ?? null,
        q.statuses ? [...q.statuses] : null,
        q.types ? [...q.types] : null,
        q.before?.createdAt ?? null,
        q.before?.id ?? null,
        q.limit,
      ],
    );
    return rows.map(toSummary);
  }

  /**
   * Per saga type (of `types`), the org's subjects with a saga open (`running`, `compensating`) or stopped past its
   * pivot (`failed`) now: the only subjects `unfinished` can answer for. Read through the partial indexes of open and
   * of stopped sagas, so it costs what is unfinished now, not the org's history (a caller with thousands of subjects,
   * an org's every revoked connection, asks `unfinished` only about these).
   */
  async openSubjects(
    orgId: string,
    types: readonly string[],
  ): Promise<ReadonlyMap<string, ReadonlySet<string>>> {
    const S = this.q();
    const rows = await this.sql<{ type: string; subject_key: string }>(
      'open-subjects',
      `select type, subject_key from ${S}.saga
        where status in ('running', 'compensating') and org_id = $1 and type = any($2::text[])
       union
       select type, subject_key from ${S}.saga
        where status = 'failed' and org_id = $1 and type = any($2::text[])`,
      [orgId, [...types]],
    );
    const byType = new Map<string, Set<string>>();
    for (const r of rows) {
      const subjects = byType.get(r.type) ?? new Set<string>();
      subjects.add(r.subject_key);
      byType.set(r.type, subjects);
    }
    return byType;
  }

  /**
   * For each subject, its newest saga of the given types when that one is still open or stopped past its pivot
   * (what a connection's card shows as "in progress" or "stopped"); subjects whose newest saga ended otherwise are
   * left out.
   */
  async unfinished(
    orgId: string,
    subjects: readonly { type: string; subjectKey: string }[],
  ): Promise<TSagaSummary[]> {
    if (subjects.length === 0) return [];
    const S = this.q();
    const rows = await this.sql<TSagaRow & { first_step_result: Record<string, unknown> | null }>(
      'unfinished',
      `select x.*, ${this.firstStepResultSql('x')} as first_step_result
         from (select distinct on (s.type, s.subject_key) s.*
                 from ${S}.saga s
                 join unnest($2::text[], $3::text[]) as k(type, subject_key)
                   on s.type = k.type and s.subject_key = k.subject_key
                where s.org_id = $1
                order by s.type, s.subject_key, s.created_at desc) x
        where x.status in ('running', 'compensating', 'failed')`,
      [orgId, subjects.map((k) => k.type), subjects.map((k) => k.subjectKey)],
    );
    return rows.map(toSummary);
  }

  /**
   * How many of an org's sagas (or of those a user takes part in, as `list` reads it) are open and how many stopped:
   * counted over the unfinished sagas only (the partial indexes), whatever the log's size.
   */
  async countFor(q: Pick<TSagaListQuery, 'orgId' | 'participantUserId'>): Promise<{
    open: number;
    stopped: number;
  }> {
    const S = this.q();
    const [row] = await this.sql<{ open: string; stopped: string }>(
      'count-for',
      `select count(*) filter (where s.status in ('running', 'compensating')) as open,
              count(*) filter (where s.status = 'failed') as stopped
         from ${S}.saga s
        where s.status in ('running', 'compensating', 'failed') and s.org_id = $1
          and (${this.participantSql('$2')})`,
      [q.orgId, q.participantUserId ?? null],
    );
    return { open: Number(row?.open ?? 0), stopped: Number(row?.stopped ?? 0) };
  }

  /** `countFor`'s participant filter on saga `s`: the parameter null, or the user started it or owns its subject. */
  private participantSql(param: string): string {
    return `${param}::text is null or s.actor_user_id = ${param}::uuid or s.owner_user_id = ${param}::uuid`;
  }

  /**
   * The saga's `owner_user_id` (in an update of saga `s` from CTE `t` with its `done` steps): kept once known, else the
   * first step result among them that names `target.ownerUserId` (a disconnect's lock names whose connection it is).
   */
  private ownerFromDoneSql(): string {
    return `coalesce(s.owner_user_id, (select ${uuidOrNull(`d->'result'->'target'->>'ownerUserId'`)}
               from jsonb_array_elements(t.done) d
              where d->'result'->'target'->>'ownerUserId' is not null limit 1))`;
  }

  /** The first step's result of saga `alias` (a disconnect's lock step names its target there). */
  private firstStepResultSql(alias: string): string {
    return `(select st.result from ${this.q()}.saga_step st where st.saga_id = ${alias}.id and st.seq = 0)`;
  }

  /** Open and stopped sagas, by type and status, over every org (for the operators' gauges; indexed counts). */
  async countUnfinished(): Promise<{ type: string; status: TSagaStatus; count: number }[]> {
    const S = this.q();
    return (
      await this.sql<{ type: string; status: TSagaStatus; count: string }>(
        'count-unfinished',
        `select type, status, count(*) as count from ${S}.saga where status in ('running', 'compensating')
          group by type, status
         union all
         select type, 'failed', count(*) from ${S}.saga where status = 'failed' group by type`,
        [],
      )
    ).map((r) => ({ type: r.type, status: r.status, count: Number(r.count) }));
  }

  /** Drives a saga this process holds the lease of; one driver per saga per process. */
  drive(sagaId: string, fresh?: TOwnedSagaRow): Promise<void> {
    const running = this.driving.get(sagaId);
    if (running) return running;
    clearTimeout(this.redrives.get(sagaId)?.timer);
    let redrive = false;
    const p = this.run(sagaId, fresh)
      .then(() => {
        this.redrives.delete(sagaId);
      })
      .catch((e: unknown) => {
        if (isDatabaseUnavailable(e) && !this.stopped) {
          redrive = true;
          return;
        }
        this.redrives.delete(sagaId);
        this.opts.logger.error({ err: e, sagaId }, 'saga driver crashed; recovery will resume it');
      })
      .finally(() => {
        this.driving.delete(sagaId);
        if (redrive) this.driveAgainLater(sagaId);
      });
    this.driving.set(sagaId, p);
    return p;
  }

  /**
   * The database went away under a driver (a restart, a failover): nothing is lost — the log says where the saga
   * is, and each step's command goes again under its idempotency key — so it is driven again from the log once the
   * database answers, tried every 250 ms at first and at most every 5 s, without waiting for its lease to run out.
   * If the outage outlasts the lease, another replica may have claimed it by then: the driver then sees another
   * owner and leaves it.
   */
  private driveAgainLater(sagaId: string): void {
    const delayMs = Math.min(5_000, (this.redrives.get(sagaId)?.delayMs ?? 125) * 2);
    databaseUnavailableTotal.inc();
    this.opts.logger.warn(
      { sagaId, retryInMs: delayMs },
      'saga log unreachable (database unavailable); driving the saga again shortly',
    );
    const timer = setTimeout(() => {
      if (!this.stopped) void this.drive(sagaId);
    }, delayMs);
    this.redrives.set(sagaId, { delayMs, timer });
  }

  /**
   * The recovery loop's automatic resumes, checked a quarter of `afterMs` apart (at most every 30 s), not on every
   * tick: a stop waits minutes, the loop runs every second.
   */
  private async autoResumeIfDue(): Promise<void> {
    const auto = this.opts.autoResume;
    if (!auto || Date.now() < this.nextAutoResumeCheck) return;
    this.nextAutoResumeCheck = Date.now() + Math.min(30_000, auto.afterMs / 4);
    await this.autoResumeOnce();
  }

  /**
   * Resumes the sagas stopped past their pivot whose wait (`autoResume`) is over: `afterMs × 2^resumedCount` since
   * they stopped, at most `maxDelayMs`. Replicas may pick the same one: `resume` lets one of them reopen it.
   */
  async autoResumeOnce(limit = 10): Promise<number> {
    const auto = this.opts.autoResume;
    if (!auto || this.stopped) return 0;
    const { types, versions } = this.registered();
    if (types.length === 0) return 0;
    // Only the definitions this process runs (`resume` refuses the others); `type = any` reads the stopped index.
    const due = await this.sql<{ id: string }>(
      'auto-resume-due',
      `select id from ${this.q()}.saga
        where status = 'failed' and type = any($4::text[])
          and (type, definition_version) in (select * from unnest($4::text[], $5::int[]))
          and completed_at < now() - least($1::float8, $2::float8 * power(2, resumed_count)) * interval '1 millisecond'
        order by completed_at limit $3`,
      [auto.maxDelayMs, auto.afterMs, limit, types, versions],
    );
    let resumed = 0;
    for (const { id } of due) {
      try {
        if (await this.resume(id, null)) resumed += 1;
      } catch (e) {
        this.opts.logger.warn({ err: e, sagaId: id }, 'automatic resume failed; next time');
      }
    }
    return resumed;
  }

  /**
   * Claims sagas whose lease expired (their process died) and drives them. Returns how many it claimed. Only the
   * definitions this process registers: a saga it could not drive would sit under its lease, out of reach of the
   * edges that can, claimed and dropped again every lease period.
   */
  async recoverOnce(limit = 10): Promise<number> {
    const { types, versions } = this.registered();
    if (types.length === 0) return 0;
    const S = this.q();
    // One statement: the recoverable index finds the expired leases, SKIP LOCKED leaves others' claims alone.
    const claimed = await this.sql<{ id: string }>(
      'recover',
      `update ${S}.saga s set owner = $1, lease_expires_at = now() + $2::float8 * interval '1 millisecond',
           updated_at = now()
        where s.id in (
          select id from ${S}.saga
           where status in ('running', 'compensating') and lease_expires_at < now()
             and (type, definition_version) in (select * from unnest($3::text[], $4::int[]))
           order by created_at limit $5
           for update skip locked)
        returning s.id`,
      [this.owner, this.leaseMs, types, versions, limit],
    );
    for (const { id } of claimed) {
      this.opts.logger.info({ sagaId: id }, 'saga recovered from an expired lease');
      this.drive(id);
    }
    return claimed.length;
  }

  /** The check for sagas of unknown definitions, once a minute from the recovery loop. */
  private async reportUnknownIfDue(): Promise<void> {
    if (Date.now() < this.nextUnknownCheck) return;
    this.nextUnknownCheck = Date.now() + 60_000;
    await this.reportUnknownDefinitions();
  }

  /**
   * Logs (once per saga per process) the sagas this process leaves alone because it does not register their
   * definition: open ones whose lease expired and stopped ones. Harmless while an edge that has the definition runs;
   * if none does (a rollback past a version), nothing drives them until one is deployed. Returns the newly reported
   * ids.
   */
  async reportUnknownDefinitions(limit = 100): Promise<string[]> {
    const { types, versions } = this.registered();
    const S = this.q();
    const unknown = `(type, definition_version) not in (select * from unnest($1::text[], $2::int[]))`;
    // Each half reads its partial index (expired leases, stopped sagas).
    const rows = await this.sql<{
      id: string;
      type: string;
      definition_version: number;
      status: TSagaStatus;
    }>(
      'unknown-definitions',
      `(select id, type, definition_version, status from ${S}.saga
         where status in ('running', 'compensating') and lease_expires_at < now() and ${unknown}
         order by created_at limit $3)
       union all
       (select id, type, definition_version, status from ${S}.saga
         where status = 'failed' and ${unknown}
         order by created_at limit $3)`,
      [types, versions, limit],
    );
    const fresh = rows.filter((r) => !this.reportedUnknown.has(r.id));
    for (const r of fresh)
      this.opts.logger.warn(
        { sagaId: r.id, type: r.type, version: r.definition_version, status: r.status },
        'saga of a definition version this edge does not run; left to an edge that does',
      );
    this.reportedUnknown = new Set(rows.map((r) => r.id));
    return fresh.map((r) => r.id);
  }

  private holdLease(sagaId: string): void {
    this.leased.add(sagaId);
    this.leaseRenewal ??= setInterval(
      () => void this.renewLeases().catch(() => undefined),
      Math.max(200, Math.floor(this.leaseMs / 3)),
    );
  }

  private releaseLease(sagaId: string): void {
    this.leased.delete(sagaId);
    if (this.leased.size === 0 && this.leaseRenewal) {
      clearInterval(this.leaseRenewal);
      this.leaseRenewal = undefined;
    }
  }

  /** Every held lease moved forward at once; a saga whose row says another owner is lost to this process. */
  private async renewLeases(): Promise<void> {
    const ids = [...this.leased];
    for (let i = 0; i < ids.length; i += 1_000) {
      const chunk = ids.slice(i, i + 1_000);
      const held = await this.sql<{ id: string }>(
        'renew-leases',
        `update ${this.q()}.saga set lease_expires_at = now() + $2::float8 * interval '1 millisecond',
             updated_at = now()
          where id = any($1::uuid[]) and owner = $3 and status in ('running', 'compensating')
          returning id`,
        [chunk, this.leaseMs, this.owner],
      );
      const kept = new Set(held.map((r) => r.id));
      // Another replica took the saga over (this process stalled past the lease): stop driving it. One that ended
      // meanwhile is no longer held, so it is not marked.
      for (const id of chunk) if (!kept.has(id) && this.leased.has(id)) this.lost.add(id);
    }
  }

  private async renewLease(sagaId: string): Promise<boolean> {
    const n = await this.t('saga')
      .where({ id: sagaId, owner: this.owner })
      .whereIn('status', OPEN_SAGA_STATUSES)
      .update({ lease_expires_at: this.leaseEnd(), updated_at: this.knex().fn.now() });
    return n === 1;
  }

  async view(sagaId: string): Promise<TSagaView | undefined> {
    const S = this.q();
    // The saga and its steps in one statement.
    const [saga] = await this.sql<TSagaRow & { steps: TStepRow[] }>(
      'view',
      `select s.*, coalesce((select json_agg(st order by st.seq) from ${S}.saga_step st where st.saga_id = s.id),
         '[]'::json) as steps
         from ${S}.saga s where s.id = $1`,
      [sagaId],
    );
    return saga ? toView(saga) : undefined;
  }

  /**
   * Resolves with the saga once it is terminal, or as it is when `timeoutMs` elapses. A saga this process drives
   * wakes the waiter when it ends, handing over the view its end statement returned (no read); one driven
   * elsewhere (another replica) is polled.
   */
  async waitFor(sagaId: string, timeoutMs: number): Promise<TSagaView | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let wake: (ended?: TSagaView) => void = () => undefined;
      const woke = new Promise<TSagaView | undefined>((resolve) => {
        wake = resolve;
      });
      // Listening before reading: an end between the read and the wait is not missed.
      this.once(`end:${sagaId}`, wake);
      let timer: NodeJS.Timeout | undefined;
      try {
        // Driven here: nothing to read until it ends (or the wait times out).
        if (this.driving.has(sagaId) && Date.now() < deadline) {
          const ended = await Promise.race([
            woke,
            new Promise<undefined>((resolve) => {
              timer = setTimeout(() => resolve(undefined), Math.max(0, deadline - Date.now()));
            }),
          ]);
          clearTimeout(timer);
          if (ended) return ended;
        }
        let v: TSagaView | undefined;
        try {
          v = await this.view(sagaId);
        } catch (e) {
          // The log is out of reach for now: its driver is waiting for it too, so wait on until the deadline.
          if (!isDatabaseUnavailable(e) || Date.now() >= deadline) throw e;
          await new Promise((r) => {
            timer = setTimeout(r, Math.min(250, Math.max(0, deadline - Date.now())));
          });
          continue;
        }
        if (!v || isTerminal(v.status) || Date.now() >= deadline) return v;
        await Promise.race([
          woke,
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, Math.min(250, Math.max(0, deadline - Date.now())));
          }),
        ]);
      } finally {
        clearTimeout(timer);
        this.off(`end:${sagaId}`, wake);
      }
    }
  }

  private emitStep(
    saga: TSagaRow,
    step: string,
    phase: TSagaStepEvent['phase'],
    outcome: TSagaStepEvent['outcome'],
    attempt: number,
    retryable: boolean,
    startedAt: number,
  ): void {
    const ev: TSagaStepEvent = {
      sagaId: saga.id,
      type: saga.type,
      step,
      phase,
      outcome,
      attempt,
      retryable,
      durationMs: performance.now() - startedAt,
      traceId: traceIdOf(saga),
    };
    this.emit('step', ev);
  }

  private emitProgress(sagaId: string): void {
    this.emit(`progress:${sagaId}`);
  }

  /**
   * The delay before retry `attempt` (1: the first): exponential, jittered over its upper half so sagas failing
   * together (an outage) spread out. `untilDone`: the retries that only end when the call succeeds, capped higher.
   */
  private delay(attempt: number, untilDone = false): number {
    const cap = untilDone ? this.backoff.untilDoneMaxMs : this.backoff.maxMs;
    const exp = Math.min(cap, this.backoff.baseMs * 2 ** Math.max(0, attempt - 1));
    return exp / 2 + Math.random() * (exp / 2);
  }

  /** Waits out a retry's delay; a stop ends the wait at once (the caller checks `stopped` next). */
  private pause(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  /** `fresh`: the row `start()` just inserted (its first step already running), so nothing is read back. */
  private async run(sagaId: string, fresh?: TOwnedSagaRow): Promise<void> {
    const saga =
      fresh ?? ((await this.t('saga').where({ id: sagaId }).first()) as TOwnedSagaRow | undefined);
    if (!saga || isTerminal(saga.status) || saga.owner !== this.owner) return;
    if (fresh) this.freshPasses.add(saga);
    const def = this.defs.get(`${saga.type}@${saga.definition_version}`);
    if (!def) {
      this.opts.logger.error(
        { sagaId, type: saga.type, version: saga.definition_version },
        'no definition for saga version',
      );
      // Hand it over at once rather than sit on it for a lease: an edge that has the definition claims it.
      await this.t('saga')
        .where({ id: sagaId, owner: this.owner })
        .whereIn('status', OPEN_SAGA_STATUSES)
        .update({ lease_expires_at: this.knex().fn.now(), updated_at: this.knex().fn.now() });
      return;
    }
    this.holdLease(sagaId);
    try {
      if (saga.status === 'running') {
        const outcome = await this.forward(saga, def, fresh !== undefined);
        if (outcome.status === 'compensating') await this.compensate(saga, def, outcome.error);
      } else if (saga.status === 'compensating') {
        await this.compensate(saga, def, saga.error);
      }
    } finally {
      this.releaseLease(sagaId);
      this.lost.delete(sagaId);
      // Waiters stop waiting on this process (it ended, stopped or lost the saga): they read or poll now.
      this.emit(`end:${sagaId}`);
      this.emitProgress(sagaId);
    }
  }

  private async loadSteps(sagaId: string): Promise<Map<string, TStepRow>> {
    const rows = (await this.t('saga_step').where({ saga_id: sagaId })) as TStepRow[];
    return new Map(rows.map((r) => [r.name, r]));
  }

  /**
   * Records one transition: the steps that succeeded since the last write (kept in memory until now) and the start
   * of the next stage's steps, group-committed with other sagas' transitions of the same turn. A crash between a
   * step's reply and this write leaves the step `running`: recovery sends its command again under the same
   * idempotency key and gets the first reply.
   */
  private transition(sagaId: string, done: TDone[], next: TNext[]): Promise<boolean> {
    return this.transitions.run({ id: sagaId, current_step: next[0]?.name ?? null, done, next });
  }

  /**
   * Several sagas' transitions in one statement; each only while this process holds its saga. The sagas' ids also
   * come as an array (`$3`): the planner takes a jsonb recordset for 100 rows and, against a log of a few hundred
   * to some tens of thousands of sagas, scanned the whole table for each write (1 ms at 5,000 sagas and growing);
   * with the array it looks the rows up by primary key.
   */
  private async writeTransitions(items: TTransition[]): Promise<boolean[]> {
    const S = this.q();
    const rows = await this.sql<{ id: string }>(
      'transitions',
      `with t as (select * from jsonb_to_recordset($1::jsonb)
                    as t(id uuid, current_step text, done jsonb, next jsonb)),
       owned as (
         update ${S}.saga s set current_step = t.current_step, updated_at = now(),
             owner_user_id = ${this.ownerFromDoneSql()}
           from t where s.id = any($3::uuid[]) and s.id = t.id and s.owner = $2 returning s.id),
       done as (${this.doneSql()}),
       started as (
         update ${S}.saga_step s set status = 'running', attempts = n.attempts, started_at = now(), error = null
           from t cross join lateral jsonb_to_recordset(t.next) as n(name text, attempts int)
          where t.id in (select id from owned) and s.saga_id = t.id and s.name = n.name)
       select id from owned`,
      [logJson(items), this.owner, items.map((i) => i.id)],
    );
    const held = new Set(rows.map((r) => r.id));
    return items.map((i) => held.has(i.id));
  }

  /**
   * The `done` CTE of every log write: the steps that succeeded (or were skipped) since the last write, from the
   * `done` jsonb array (`{ name, result, status? }`) of each saga in CTE `t` that CTE `owned` returned.
   */
  private doneSql(): string {
    return `update ${this.q()}.saga_step s set status = coalesce(d.status, 'succeeded'), result = d.result,
              completed_at = now(), effect_possible = d.status is null
            from t cross join lateral jsonb_to_recordset(t.done) as d(name text, result jsonb, status text)
           where t.id in (select id from owned) and s.saga_id = t.id and s.name = d.name`;
  }

  /** Writes steps that succeeded (on a path that stops before the next transition would have). */
  private async writeDone(sagaId: string, done: TDone[]): Promise<void> {
    if (done.length === 0) return;
    await this.sql(
      'write-done',
      `with t as (select $1::uuid as id, $3::jsonb as done),
       owned as (
         update ${this.q()}.saga s set owner_user_id = ${this.ownerFromDoneSql()}
           from t where s.id = t.id and s.owner = $2 returning s.id),
       done as (${this.doneSql()})
       select 1`,
      [sagaId, this.owner, logJson(done)],
    );
  }

  /**
   * A failed attempt: recorded before the retry or the compensation it leads to. `noEffect`: the receiver proved
   * the command did nothing (`provesNoEffect`), which clears what an earlier ambiguous attempt left possible.
   */
  private async recordFailure(
    sagaId: string,
    step: string,
    err: TSagaError,
    e: unknown,
    noEffect: boolean,
  ) {
    await this.t('saga_step')
      .where({ saga_id: sagaId, name: step })
      .update({
        status: 'failed',
        error: logJson(err),
        ...(noEffect
          ? { effect_possible: false }
          : certainlyUndelivered(e)
            ? {}
            : { effect_possible: true }),
      });
  }

  private async forward(
    saga: TSagaRow,
    def: TAnyDefinition,
    fresh: boolean,
  ): Promise<TForwardOutcome> {
    const steps = fresh ? new Map<string, TStepRow>() : await this.loadSteps(saga.id);
    const results: Record<string, unknown> = {};
    const pivotIndex = def.steps.findIndex((s) => s.kind === 'pivot');
    /** Steps that succeeded and are not written yet: the next transition (or the finish) records them. */
    let done: TDone[] = [];
    // A fresh saga's first step was recorded `running` (attempt 1) by start().
    let recorded = fresh;
    let index = -1;
    for (const stage of stagesOf(def.steps)) {
      if (stage.length > 1) {
        index += stage.length;
        const pending = stage.filter((st) => {
          const row = steps.get(st.name);
          if (row?.status === 'succeeded') results[st.name] = row.result;
          if (isSettled(row)) return false;
          if (st.when && !st.when({ input: saga.input, results })) {
            done.push({ name: st.name, result: null, status: 'skipped' });
            return false;
          }
          return true;
        });
        if (pending.length === 0) continue;
        const outcome = await this.runStage(saga, pending, steps, results, done);
        if (outcome.status !== 'succeeded') return outcome;
        done = outcome.done;
        continue;
      }
      const step = stage[0]!;
      index += 1;
      const row = steps.get(step.name);
      if (row?.status === 'succeeded') {
        results[step.name] = row.result;
        continue;
      }
      if (row?.status === 'skipped') continue;
      // Its condition says no: recorded `skipped` with the next write, no command sent.
      if (step.when && !step.when({ input: saga.input, results })) {
        done.push({ name: step.name, result: null, status: 'skipped' });
        continue;
      }
      let afterPivot = pivotIndex >= 0 && index > pivotIndex;
      let attempts = row?.attempts ?? 0;
      // The budget of attempts is this pass's: a resumed (or recovered) saga tries each step afresh.
      const attemptsBefore = attempts;
      // A pivot that may already have acted (an ambiguous timeout) must not be compensated: it only moves forward.
      if (step.kind === 'pivot' && row?.effect_possible) afterPivot = true;
      /** When this pass first found the step's service away (before the pivot: retried for a while, see opts). */
      let awaySince: number | undefined;
      for (;;) {
        if (this.stopped && !afterPivot && attempts > 0 && !recorded) {
          await this.writeDone(saga.id, done);
          return { status: 'stopped' };
        }
        attempts += 1;
        if (recorded) recorded = false;
        else {
          const held =
            !this.lost.has(saga.id) &&
            (await this.transition(saga.id, done, [{ name: step.name, attempts }]));
          done = [];
          if (!held) {
            this.opts.logger.warn({ sagaId: saga.id }, 'saga lease lost; its new owner drives it');
            return { status: 'stopped' };
          }
        }
        this.emitProgress(saga.id);
        const outcome = await this.attemptRecorded(saga, step, results, attempts);
        if (outcome.ok) {
          done = [{ name: step.name, result: outcome.result }];
          results[step.name] = outcome.result;
          break;
        }
        const { err, retryable, cause } = outcome;
        if (step.kind === 'pivot') {
          // The receiver's word that nothing was done, nor will be: compensate, even after an ambiguous attempt.
          if (step.provesNoEffect?.(err)) afterPivot = false;
          else if (!certainlyUndelivered(cause) && retryable) afterPivot = true;
        }
        if (this.stopped) return { status: 'stopped' }; // another replica (or this one restarted) resumes
        if (afterPivot) {
          // Past the point of no return: only forward. Retryable failures retry forever; others a bounded number
          // of times, then the saga is `failed` for an operator (the log says exactly where).
          if (!retryable && attempts - attemptsBefore >= (step.maxAttempts ?? 10)) {
            await this.failAfterPivot(saga, err, results);
            return { status: 'failed' };
          }
          // Retryable: until done, for as long as an outage lasts, so the delay grows to the long cap (counted in
          // this pass: a resumed saga starts quick). A business error's retries are bounded (maxAttempts): the
          // short cap, so the saga stops for an operator as soon as before.
          await this.pause(this.delay(attempts - attemptsBefore, retryable));
          // The lease: the next transition checks it (owner) and the lease timer renews it; no statement here.
          if (this.stopped) return { status: 'stopped' };
          continue;
        }
        if (serviceAway(cause)) awaySince ??= Date.now();
        else awaySince = undefined;
        if (
          retryable &&
          (attempts < (step.maxAttempts ?? 3) ||
            (awaySince !== undefined && Date.now() - awaySince < this.unavailableRetryMs))
        ) {
          await this.pause(this.delay(attempts));
          // No lease statement: the transition at the loop's top writes only while this process holds the saga.
          continue;
        }
        const held = await this.t('saga')
          .where({ id: saga.id, owner: this.owner })
          .update({
            status: 'compensating',
            error: logJson(err),
            updated_at: this.knex().fn.now(),
          });
        if (held !== 1) return { status: 'stopped' };
        this.opts.logger.warn(
          { sagaId: saga.id, step: step.name, code: err.code, reason: err.reason },
          'saga compensating',
        );
        return { status: 'compensating', error: err };
      }
    }
    await this.finish(saga, 'completed', def.result ? def.result(results) : results, null, done);
    return { status: 'completed' };
  }

  /**
   * Stops a saga past its pivot for an operator: `onFailed` first (e.g. the audit entry saying what was done and
   * where it stopped), retried until done while the lease holds, then the `failed` status. A crash in between
   * leaves the saga open: recovery runs its steps again and stops it again, and `onFailed` is idempotent.
   */
  private async failAfterPivot(
    saga: TSagaRow,
    err: TSagaError,
    results: Record<string, unknown>,
  ): Promise<void> {
    const def = this.defs.get(`${saga.type}@${saga.definition_version}`);
    const onFailed = def?.onFailed;
    if (onFailed) {
      const done = await this.hookUntilDone(
        saga,
        'onFailed',
        () =>
          onFailed({
            sagaId: saga.id,
            input: saga.input,
            orgId: saga.org_id,
            actorUserId: saga.actor_user_id,
            results,
            error: err,
            resumedCount: saga.resumed_count ?? 0,
          }),
        { stopOnShutdown: true },
      );
      if (!done) return;
    }
    await this.finish(saga, 'failed', null, err);
    this.opts.logger.error({ sagaId: saga.id, step: err.step, err }, 'saga failed after its pivot');
  }

  /**
   * A stage of concurrent steps (all after the pivot): their starts are written in one statement with the steps
   * that succeeded before, then each runs and retries on its own; the stage succeeds when all of them did.
   */
  private async runStage(
    saga: TSagaRow,
    pending: TStepDefinition<Record<string, unknown>>[],
    steps: Map<string, TStepRow>,
    results: Record<string, unknown>,
    done: TDone[],
  ): Promise<{ status: 'succeeded'; done: TDone[] } | { status: 'failed' | 'stopped' }> {
    const next = pending.map((st) => ({
      name: st.name,
      attempts: (steps.get(st.name)?.attempts ?? 0) + 1,
    }));
    const held = !this.lost.has(saga.id) && (await this.transition(saga.id, done, next));
    if (!held) {
      this.opts.logger.warn({ sagaId: saga.id }, 'saga lease lost; its new owner drives it');
      return { status: 'stopped' };
    }
    this.emitProgress(saga.id);
    // A stage's steps see the results of the stages before it, never each other's.
    const before = { ...results };
    const outcomes = await Promise.all(
      pending.map((st, i) => this.runUntilDone(saga, st, before, next[i]!.attempts)),
    );
    const succeeded: TDone[] = [];
    for (const [i, o] of outcomes.entries()) {
      if (o.status !== 'succeeded') continue;
      const name = pending[i]!.name;
      results[name] = o.result;
      succeeded.push({ name, result: o.result });
    }
    const failed = outcomes.find((o) => o.status === 'failed');
    const stopped = outcomes.some((o) => o.status === 'stopped');
    if (!failed && !stopped) return { status: 'succeeded', done: succeeded };
    // Keep what did succeed before leaving: whoever resumes skips it.
    await this.writeDone(saga.id, succeeded);
    if (stopped || !failed || failed.status !== 'failed') return { status: 'stopped' };
    await this.failAfterPivot(saga, failed.error, results);
    return { status: 'failed' };
  }

  /** One step of a concurrent stage, retried until it succeeds (forward only), fails for good, or must stop. */
  private async runUntilDone(
    saga: TSagaRow,
    step: TStepDefinition<Record<string, unknown>>,
    results: Record<string, unknown>,
    firstAttempt: number,
  ): Promise<
    | { status: 'succeeded'; result: Record<string, unknown> }
    | { status: 'failed'; error: TSagaError }
    | { status: 'stopped' }
  > {
    for (let attempts = firstAttempt; ; attempts += 1) {
      if (attempts > firstAttempt) {
        const held =
          !this.lost.has(saga.id) &&
          (await this.transition(saga.id, [], [{ name: step.name, attempts }]));
        if (!held) return { status: 'stopped' };
        this.emitProgress(saga.id);
      }
      const outcome = await this.attemptRecorded(saga, step, results, attempts);
      if (outcome.ok) return { status: 'succeeded', result: outcome.result };
      if (this.stopped) return { status: 'stopped' };
      // This pass's budget: a resumed (or recovered) saga tries each step afresh.
      if (!outcome.retryable && attempts - firstAttempt + 1 >= (step.maxAttempts ?? 10))
        return { status: 'failed', error: outcome.err };
      await this.pause(this.delay(attempts - firstAttempt + 1, outcome.retryable));
      // The next transition checks the lease (owner); the lease timer renews it.
      if (this.stopped) return { status: 'stopped' };
    }
  }

  /** One forward attempt with its telemetry; a failure is recorded in the log before it is returned. */
  private async attemptRecorded(
    saga: TSagaRow,
    step: TStepDefinition<Record<string, unknown>>,
    results: Record<string, unknown>,
    attempts: number,
  ): Promise<
    | { ok: true; result: Record<string, unknown> }
    | { ok: false; err: TSagaError; retryable: boolean; cause: unknown }
  > {
    const started = performance.now();
    try {
      const result = await this.attempt(step, saga, results, attempts);
      this.emitStep(saga, step.name, 'forward', 'succeeded', attempts, false, started);
      return { ok: true, result };
    } catch (e) {
      const err = toSagaError(step.name, e);
      const retryable = e instanceof AppError && e.retryable;
      this.emitStep(saga, step.name, 'forward', 'failed', attempts, retryable, started);
      const noEffect = step.kind === 'pivot' && step.provesNoEffect?.(err) === true;
      await this.recordFailure(saga.id, step.name, err, e, noEffect);
      this.emitProgress(saga.id);
      return { ok: false, err, retryable, cause: e };
    }
  }

  private async attempt(
    step: TStepDefinition<Record<string, unknown>>,
    saga: TSagaRow,
    results: Record<string, unknown>,
    attempt: number,
  ): Promise<Record<string, unknown>> {
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        ac.abort();
        reject(new StepTimeout(step.name, step.timeoutMs));
      }, step.timeoutMs);
    });
    try {
      return await Promise.race([
        step.run({
          sagaId: saga.id,
          input: saga.input,
          orgId: saga.org_id,
          actorUserId: saga.actor_user_id,
          results,
          idempotencyKey: `${saga.id}:${step.name}`,
          attempt,
          resumed: !this.freshPasses.has(saga),
          signal: ac.signal,
        }),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A compensation attempt's start, in one statement: the step `compensating` and the saga's lease renewed, only
   * while this process holds the saga. False: another replica took it over (its driver compensates).
   */
  private async startCompensation(sagaId: string, step: string): Promise<boolean> {
    const S = this.q();
    const [row] = await this.sql<{ held: boolean }>(
      'start-compensation',
      `with held as (
         update ${S}.saga set lease_expires_at = now() + $3::float8 * interval '1 millisecond', updated_at = now()
          where id = $1 and owner = $4 and status = any($5::text[]) returning id),
       st as (
         update ${S}.saga_step set status = 'compensating'
          where saga_id in (select id from held) and name = $2)
       select exists (select 1 from held) as held`,
      [sagaId, step, this.leaseMs, this.owner, [...OPEN_SAGA_STATUSES]],
    );
    return row?.held === true;
  }

  private async compensate(
    saga: TSagaRow,
    def: TAnyDefinition,
    error: TSagaError | null,
  ): Promise<void> {
    const steps = await this.loadSteps(saga.id);
    const results: Record<string, unknown> = {};
    for (const [name, row] of steps) if (row.status === 'succeeded') results[name] = row.result;
    for (const step of [...def.steps].reverse()) {
      const row = steps.get(step.name);
      if (!row || !step.compensate || !row.effect_possible || row.status === 'compensated')
        continue;
      let attempts = 0;
      for (;;) {
        attempts += 1;
        if (!(await this.startCompensation(saga.id, step.name))) return;
        this.emitProgress(saga.id);
        const stepStarted = performance.now();
        try {
          const ac = new AbortController();
          await step.compensate({
            sagaId: saga.id,
            input: saga.input,
            orgId: saga.org_id,
            actorUserId: saga.actor_user_id,
            results,
            idempotencyKey: `${saga.id}:${step.name}:compensate`,
            attempt: attempts,
            resumed: !this.freshPasses.has(saga),
            signal: ac.signal,
          });
          await this.t('saga_step')
            .where({ saga_id: saga.id, name: step.name })
            .update({ status: 'compensated', compensated_at: this.knex().fn.now() });
          this.emitStep(saga, step.name, 'compensate', 'succeeded', attempts, false, stepStarted);
          this.emitProgress(saga.id);
          break;
        } catch (e) {
          this.emitStep(saga, step.name, 'compensate', 'failed', attempts, true, stepStarted);
          // Compensations retry until done: a saga never stays half undone.
          this.opts.logger.warn(
            { sagaId: saga.id, step: step.name, err: toSagaError(step.name, e) },
            'compensation failed; retrying',
          );
          if (this.stopped) return;
          await this.pause(this.delay(attempts, true));
          // The next attempt's start checks the lease and renews it (startCompensation).
          if (this.stopped) return;
        }
      }
    }
    const onCompensated = def.onCompensated;
    if (onCompensated) {
      // A stop leaves the saga `compensating` with every step compensated: whoever claims it next finds nothing left
      // to undo and runs this hook again (idempotent) before the end, so a stop need not wait for it.
      const done = await this.hookUntilDone(
        saga,
        'onCompensated',
        () =>
          onCompensated({
            sagaId: saga.id,
            input: saga.input,
            orgId: saga.org_id,
            actorUserId: saga.actor_user_id,
            results,
            error: error ?? { step: 'unknown', code: 'INTERNAL', reason: null, message: 'unknown' },
          }),
        { stopOnShutdown: true },
      );
      if (!done) return;
    }
    await this.finish(saga, 'compensated', null, error);
  }

  /**
   * A definition's hook (onFailed, onCompensated), retried with backoff until it is done while this process holds
   * the saga. False when the lease was lost, or (`stopOnShutdown`) the engine is stopping: the saga's next driver
   * runs the hook again, which is idempotent.
   */
  private async hookUntilDone(
    saga: TSagaRow,
    name: string,
    run: () => Promise<void>,
    opts: { stopOnShutdown?: boolean } = {},
  ): Promise<boolean> {
    for (let attempts = 1; ; attempts += 1) {
      try {
        await run();
        return true;
      } catch (e) {
        this.opts.logger.warn({ sagaId: saga.id, err: e }, `${name} failed; retrying`);
        if (opts.stopOnShutdown && this.stopped) return false;
        const wait = this.delay(attempts, true);
        // A hook that must finish even through a stop waits out its delay (a stop's `pause` would not wait at all).
        await (opts.stopOnShutdown ? this.pause(wait) : new Promise((r) => setTimeout(r, wait)));
        if (opts.stopOnShutdown && this.stopped) return false;
        if (!(await this.renewLease(saga.id))) return false;
      }
    }
  }

  private async finish(
    saga: TSagaRow,
    status: TSagaStatus,
    result: Record<string, unknown> | null,
    error: TSagaError | null,
    done: TDone[] = [],
  ): Promise<void> {
    const sagaId = saga.id;
    // The last steps' success and the saga's end in one statement (group-committed with other sagas' ends), only
    // while this process holds the saga; it answers the saga's final view, so a waiter gets it without another read.
    const ended = await this.ends.run({ id: sagaId, status, result, error, done });
    if (!ended) {
      this.opts.logger.warn(
        { sagaId, status },
        'saga lease lost before its end; its new owner ends it',
      );
      return;
    }
    const ev: TSagaEndEvent = {
      sagaId,
      type: saga.type,
      status,
      // Both ends in the database's time (the log's clock), never this process' own.
      durationMs:
        new Date(ended.completed_at ?? ended.updated_at).getTime() -
        new Date(ended.created_at).getTime(),
      traceId: traceIdOf(saga),
    };
    this.emit('saga', ev);
    this.emit(`end:${sagaId}`, toView(ended));
    this.emitProgress(sagaId);
  }

  /**
   * Several sagas' ends in one statement; each answers its final view (steps as written), when it was held. The ids
   * as an array too, for the primary key lookup (see `writeTransitions`).
   */
  private async writeEnds(
    items: TEnd[],
  ): Promise<((TSagaRow & { steps: TStepRow[] }) | undefined)[]> {
    const S = this.q();
    const rows = await this.sql<TSagaRow & { steps: TStepRow[] }>(
      'ends',
      `with t as (select * from jsonb_to_recordset($1::jsonb)
                    as t(id uuid, status text, result jsonb, error jsonb, done jsonb)),
       owned as (
         update ${S}.saga s set status = t.status, result = t.result, error = t.error, current_step = null,
             completed_at = now(), updated_at = now(), lease_expires_at = null,
             owner_user_id = ${this.ownerFromDoneSql()}
           from t where s.id = any($3::uuid[]) and s.id = t.id and s.owner = $2 returning s.*),
       done as (${this.doneSql()} returning s.*)
       select o.*, coalesce((select json_agg(st order by st.seq) from (
           select * from done where done.saga_id = o.id
           union all
           select * from ${S}.saga_step x where x.saga_id = o.id
              and x.name not in (select name from done where done.saga_id = o.id)) st), '[]'::json) as steps
         from owned o`,
      [logJson(items), this.owner, items.map((i) => i.id)],
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    return items.map((i) => byId.get(i.id));
  }
}

/** A saga row with its first step's result as a list shows it. */
/** The fields a saga row shows in a list and in a view alike. */
function sagaFields(r: TSagaRow) {
  return {
    id: r.id,
    type: r.type,
    subjectKey: r.subject_key,
    status: r.status,
    currentStep: r.current_step,
    actorUserId: r.actor_user_id,
    input: r.input,
    error: r.error,
    resumedCount: r.resumed_count ?? 0,
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
    completedAt: iso(r.completed_at),
  };
}

function toSummary(
  r: TSagaRow & { first_step_result: Record<string, unknown> | null },
): TSagaSummary {
  return { ...sagaFields(r), firstStepResult: r.first_step_result };
}

/** A saga row with its steps (json_agg, in seq order) as the API shows it. */
function toView(saga: TSagaRow & { steps: TStepRow[] }): TSagaView {
  return {
    ...sagaFields(saga),
    definitionVersion: saga.definition_version,
    orgId: saga.org_id,
    result: saga.result,
    steps: saga.steps.map((s) => ({
      name: s.name,
      kind: s.kind,
      status: s.status,
      attempts: s.attempts,
      result: s.result,
      error: s.error,
      startedAt: iso(s.started_at),
      completedAt: iso(s.completed_at),
      compensatedAt: iso(s.compensated_at),
    })),
  };
}
