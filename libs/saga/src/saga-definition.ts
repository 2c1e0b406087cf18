import type { TStepKind } from './saga.entity';

export interface TStepContext<TInput> {
  sagaId: string;
  input: TInput;
  orgId: string;
  actorUserId: string;
  /** Results of the steps that already succeeded, by step name. */
  results: Record<string, unknown>;
  /** `sagaId:step` — every command carries it; receivers dedupe on it. */
  idempotencyKey: string;
  attempt: number;
  /**
   * This pass did not start the saga: it took it over from the log (a resume, an expired lease's recovery, another
   * replica), so earlier steps' results may be as old as the stop. A step that relies on a fact an earlier step read
   * (a read "as of the lock") reads it again when this is true.
   */
  resumed: boolean;
  /** Aborted when the step's timeout elapses. */
  signal: AbortSignal;
}

export interface TStepDefinition<TInput> {
  name: string;
  /** `compensatable` before the pivot; `pivot` is the point of no return; `retriable` after it only moves forward. */
  kind: TStepKind;
  /** Bound for one attempt. */
  timeoutMs: number;
  /** Attempts before a compensatable step or the pivot gives up and the saga compensates (retryable failures). */
  maxAttempts?: number;
  /**
   * Runs at the same time as the step before it (they form one stage; the next step starts when the whole stage
   * succeeded). Only after the pivot, where steps only move forward and never compensate: a stage's steps must not
   * read each other's results.
   */
  concurrent?: boolean;
  /**
   * Runs only when this answers true, from the results of the steps before its stage; otherwise the step is recorded
   * `skipped` (no command sent). Only after the pivot, where the results it reads are final.
   */
  when?(ctx: { input: TInput; results: Record<string, unknown> }): boolean;
  /**
   * For a pivot: the errors that prove its command has not taken effect and never will (the receiver settled its
   * idempotency key without acting). A pivot whose earlier attempt may have acted — a timeout, an edge that died
   * while it ran — otherwise only moves forward; with such an answer the saga compensates instead.
   */
  provesNoEffect?(err: TSagaError): boolean;
  run(ctx: TStepContext<TInput>): Promise<Record<string, unknown>>;
  /** Idempotent; retried until it succeeds. */
  compensate?(ctx: TStepContext<TInput>): Promise<void>;
}

export interface TSagaDefinition<TInput> {
  type: string;
  /** In-flight sagas finish on the definition version they started with. */
  version: number;
  steps: TStepDefinition<TInput>[];
  /** Runs (retried until done) after compensation finished: e.g. audit the failed attempt. Must be idempotent. */
  onCompensated?(
    ctx: Omit<TStepContext<TInput>, 'idempotencyKey' | 'attempt' | 'resumed' | 'signal'> & {
      error: TSagaError;
    },
  ): Promise<void>;
  /**
   * Runs (retried until done) when the saga stops past its pivot (`failed`), before the status is written: e.g.
   * audit what was done and where it stopped. Must be idempotent; `resumedCount` tells one stop from the next
   * (a resumed saga may stop again).
   */
  onFailed?(
    ctx: Omit<TStepContext<TInput>, 'idempotencyKey' | 'attempt' | 'resumed' | 'signal'> & {
      error: TSagaError;
      resumedCount: number;
    },
  ): Promise<void>;
  /**
   * Runs before a stopped saga is reopened (`resume`, by a user or automatically): e.g. audit who resumed it. Must be
   * idempotent (two resumers may race: `resumedCount` is the count the resume will set, the same for both). A
   * failure refuses the resume.
   */
  onResumed?(
    ctx: Omit<
      TStepContext<TInput>,
      'idempotencyKey' | 'attempt' | 'resumed' | 'signal' | 'results'
    > & {
      /** Null: resumed automatically (`autoResume`). */
      resumedBy: TResumedBy;
      resumedCount: number;
      stoppedAtStep: string;
      /** The first step's result (what a disconnect's lock learned: its target). */
      firstStepResult: Record<string, unknown> | null;
    },
  ): Promise<void>;
  /** The saga's result from its steps' results. */
  result?(results: Record<string, unknown>): Record<string, unknown>;
}

export interface TSagaError {
  step: string;
  code: string;
  reason: string | null;
  message: string;
}

/** Who resumes a stopped saga: a user (with the request's IP and trace), or null for the engine's automatic resume. */
export type TResumedBy = { userId: string; ip: string | null; traceId?: string | undefined } | null;
