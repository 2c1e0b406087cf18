import { z } from 'zod';
import {
  ZForgetIdempotencyRecords,
  ZForgetIdempotencyRecordsReply,
  ZIsoDate,
  ZOrgId,
  ZUuid,
  ZVendor,
  ZSagaCommand,
  ZIdempotencyKey,
} from './common.schema';
import { defineRequest } from './define';

export const SYNC_RESOURCES = ['contacts', 'invoices', 'tickets'] as const;
export const ZSyncResource = z.enum(SYNC_RESOURCES);
export type TSyncResource = z.infer<typeof ZSyncResource>;

/** Interval bounds: often enough to be useful, rarely enough not to hammer a provider. */
export const ZIntervalSeconds = z
  .number()
  .int()
  .min(10)
  .max(7 * 86_400);
export const DEFAULT_SYNC_INTERVAL_SECONDS = 900;

export const ZSchedule = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('interval'), everySeconds: ZIntervalSeconds }).strict(),
  z
    .object({
      kind: z.literal('cron'),
      // Shape only (5 or 6 fields of cron characters); the scheduler parses it fully before accepting it.
      expression: z
        .string()
        .min(9)
        .max(120)
        .regex(
          /^\s*[\w*?/,#L-]+(\s+[\w*?/,#L-]+){4,5}\s*$/,
          'cron expression must have 5 or 6 fields',
        ),
    })
    .strict(),
]);
export type TSchedule = z.infer<typeof ZSchedule>;

export const ZSyncJob = z.object({
  id: ZUuid,
  orgId: ZOrgId,
  instanceId: ZUuid,
  connectionId: ZUuid,
  vendor: ZVendor,
  resource: ZSyncResource,
  schedule: ZSchedule,
  isEnabled: z.boolean(),
  nextRunAt: ZIsoDate.nullable(),
  lastRunAt: ZIsoDate.nullable(),
  /** Set by "run now"; cleared when an execution claims it. */
  runRequestedAt: ZIsoDate.nullable(),
  /**
   * A change of user of the connection holds the job off across its swap: enabled, but no run starts (a run asked for
   * now starts once the change is done). Absent in replies of schedulers from before it (read as false).
   */
  pausedForChangeUser: z.boolean().default(false),
  createdAt: ZIsoDate,
  updatedAt: ZIsoDate,
});
export type TSyncJob = z.infer<typeof ZSyncJob>;

/** A local field name or a remote field path (`name`, `billing.email`). */
export const ZFieldName = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/,
    'field names are dotted identifiers',
  )
  .max(200);

/** Per instance (not per connection): kept on disconnect, reused on reconnection and by every user's connection. */
export const ZFieldMapping = z.object({
  id: ZUuid,
  orgId: ZOrgId,
  instanceId: ZUuid,
  resource: ZSyncResource,
  localField: ZFieldName,
  remoteField: ZFieldName,
  createdAt: ZIsoDate,
  updatedAt: ZIsoDate,
});
export type TFieldMapping = z.infer<typeof ZFieldMapping>;

export const SYNC_EXECUTION_STATUSES = [
  'running',
  'succeeded',
  'failed',
  'cancelled',
  /** Claimed but never started: the connection was not `connected` (or its refresh token had expired). */
  'skipped',
] as const;
export const ZSyncExecutionStatus = z.enum(SYNC_EXECUTION_STATUSES);
export type TSyncExecutionStatus = z.infer<typeof ZSyncExecutionStatus>;

/** Why it ran: its schedule came due, or someone asked for "run now". */
export const SYNC_EXECUTION_TRIGGERS = ['schedule', 'manual'] as const;
export const ZSyncExecutionTrigger = z.enum(SYNC_EXECUTION_TRIGGERS);

/** One run of a job, with its counts and timings. */
export const ZSyncExecution = z.object({
  id: ZUuid,
  jobId: ZUuid,
  orgId: ZOrgId,
  instanceId: ZUuid,
  connectionId: ZUuid,
  resource: ZSyncResource,
  status: ZSyncExecutionStatus,
  trigger: ZSyncExecutionTrigger,
  startedAt: ZIsoDate,
  completedAt: ZIsoDate.nullable(),
  /** completedAt − startedAt; null while running. */
  durationMs: z.number().int().min(0).nullable(),
  recordsFetched: z.number().int().min(0),
  recordsWritten: z.number().int().min(0),
  referencesUpserted: z.number().int().min(0),
  /** References that were `stale` (after a disconnect) and are `synced` again. */
  referencesRestored: z.number().int().min(0),
  /** Committed batches (one transaction each). */
  batches: z.number().int().min(0),
  /** Time spent waiting for the provider's pages, and writing them, in ms. */
  fetchMs: z.number().int().min(0),
  writeMs: z.number().int().min(0),
  /** How many times another runner took it over after its runner crashed. */
  takeovers: z.number().int().min(0),
  cancelRequestedAt: ZIsoDate.nullable(),
  /** Machine-readable: `access_token_expired`, `provider_unauthorized`, `lease_expired`, `connection_revoked`… */
  errorReason: z.string().nullable(),
  /** A short, secret-free summary (never a provider response body). */
  error: z.string().nullable(),
});
export type TSyncExecution = z.infer<typeof ZSyncExecution>;

export const ZSyncExecutionCounts = z.object({
  total: z.number().int().min(0),
  running: z.number().int().min(0),
  succeeded: z.number().int().min(0),
  failed: z.number().int().min(0),
  cancelled: z.number().int().min(0),
  skipped: z.number().int().min(0),
});

export const ZSyncJobOverview = z.object({
  job: ZSyncJob,
  /** The newest execution (running or finished), or null before the first run. */
  lastExecution: ZSyncExecution.nullable(),
  executions: ZSyncExecutionCounts,
  /** Local records of the job's resource on the instance (kept through disconnects). */
  records: z.number().int().min(0),
});
export type TSyncJobOverview = z.infer<typeof ZSyncJobOverview>;

/**
 * Core NATS broadcast (not request/reply, no queue group): every scheduler replica hears it, and the one running
 * an execution listed here stops before its next page. A lost message is covered by the runner's per-batch check of
 * the execution row, which is the source of truth.
 */
export const SYNC_CANCEL_SIGNAL_SUBJECT = 'sync-scheduler.signals.cancel';
export const ZSyncCancelSignal = z.object({ executionIds: z.array(ZUuid).min(1).max(10_000) });
export type TSyncCancelSignal = z.infer<typeof ZSyncCancelSignal>;

const ZJobRef = z.object({ orgId: ZOrgId, jobId: ZUuid }).strict();

export const syncSchedulerContracts = {
  /**
   * Idempotent: a (connection, resource) pair gets one job (enabled, interval schedule, first run soon); an
   * existing job is returned as it is (it stays disabled after a disconnect until the user re-enables it).
   * Default field mappings are seeded once per (instance, resource). Replies with every job of the connection.
   * CONFLICT (`connection_mismatch` / `instance_mismatch`) when the connection's jobs or the instance's
   * mappings already belong to another org, instance or vendor.
   */
  'sync-scheduler.jobs.create-defaults': defineRequest({
    request: z
      .object({
        orgId: ZOrgId,
        instanceId: ZUuid,
        connectionId: ZUuid,
        vendor: ZVendor,
        /** The provider's data resources; empty for providers without a data API (jobs list only). */
        resources: z
          .array(ZSyncResource)
          .max(10)
          .transform((r) => [...new Set(r)]),
        everySeconds: ZIntervalSeconds.default(DEFAULT_SYNC_INTERVAL_SECONDS),
        /**
         * Reconnection after a disconnect (seed 000): the previous connection of the same slot. Its jobs move to the
         * new connection as they are — disabled until the user re-enables them — instead of new enabled ones.
         */
        adoptFromConnectionId: ZUuid.optional(),
      })
      .strict(),
    reply: z.object({
      jobs: z.array(ZSyncJob),
      /** Jobs moved over from `adoptFromConnectionId`. */
      adopted: z.number().int().min(0).default(0),
      /** Jobs created by this call (0 on a replay). */
      created: z.number().int().min(0),
      /** Field mappings created by this call (0 when the instance already had them). */
      mappingsCreated: z.number().int().min(0),
    }),
    errors: ['BAD_REQUEST', 'CONFLICT'],
  }),
  /** The org's jobs, optionally narrowed to an instance and/or a connection. Another org's ids match nothing. */
  'sync-scheduler.jobs.list': defineRequest({
    request: z
      .object({
        orgId: ZOrgId,
        instanceId: ZUuid.optional(),
        connectionId: ZUuid.optional(),
      })
      .strict(),
    reply: z.object({ jobs: z.array(ZSyncJob) }),
    errors: ['BAD_REQUEST'],
  }),
  /** External references of an instance by status (the disconnect dialog and the dashboard). */
  'sync-scheduler.references.count': defineRequest({
    request: z.object({ orgId: ZOrgId, instanceId: ZUuid }).strict(),
    reply: z.object({ synced: z.number().int().min(0), stale: z.number().int().min(0) }),
    errors: ['BAD_REQUEST'],
  }),
  'sync-scheduler.mappings.list': defineRequest({
    request: z
      .object({ orgId: ZOrgId, instanceId: ZUuid, resource: ZSyncResource.optional() })
      .strict(),
    reply: z.object({ mappings: z.array(ZFieldMapping) }),
    errors: ['BAD_REQUEST'],
  }),
  /** Preview data: what a disconnect would stop. */
  'sync-scheduler.connections.summary': defineRequest({
    request: z.object({ orgId: ZOrgId, connectionId: ZUuid }).strict(),
    reply: z.object({
      jobs: z.number().int().min(0),
      enabledJobs: z.number().int().min(0),
      runningExecutions: z.number().int().min(0),
    }),
    errors: ['BAD_REQUEST'],
  }),
  /**
   * Disconnect saga step 2: every job of the connection `isEnabled = false` (recording the saga on the jobs it
   * disabled), every running execution marked `cancelled` with `completedAt = now` and its runner told over NATS
   * (SYNC_CANCEL_SIGNAL_SUBJECT) to stop after the batch it is writing; committed batches are kept. Idempotent by
   * `idempotencyKey` (a replay answers the first result).
   *
   * `purpose: 'changeUser'` (the change-of-user saga, before its swap): the jobs stay enabled but are paused for the
   * saga (never claimed until `reenable-for-saga` of the same saga lifts it, after the swap), and the running
   * executions are cancelled as above with `errorReason` `user_changed`: no run reads on the previous user's token
   * past the swap, nor goes on from its cursor with the new user's. `jobsDisabled` is then 0.
   */
  'sync-scheduler.jobs.disable-for-connection': defineRequest({
    request: ZSagaCommand.extend({
      purpose: z.enum(['disconnect', 'changeUser']).optional(),
    }),
    reply: z.object({
      jobsDisabled: z.number().int().min(0),
      jobIds: z.array(ZUuid),
      executionsCancelled: z.number().int().min(0),
      /** Jobs paused (purpose `changeUser`). */
      jobsPaused: z.number().int().min(0).default(0),
    }),
    /** CONFLICT `idempotency_key_reused`: the key was used for another command. */
    errors: ['BAD_REQUEST', 'CONFLICT'],
  }),
  /**
   * Compensation of disable-for-connection: re-enable exactly the jobs this saga disabled and lift the pause it
   * put on the connection's jobs (also the change of user's step after its swap). Idempotent.
   */
  'sync-scheduler.jobs.reenable-for-saga': defineRequest({
    request: ZSagaCommand,
    reply: z.object({
      jobsReenabled: z.number().int().min(0),
      jobsResumed: z.number().int().min(0).default(0),
    }),
    errors: ['BAD_REQUEST', 'CONFLICT'],
  }),
  /**
   * Disconnect saga step 6: ExternalReferences → `stale` (kept), in one set-based statement: the instance's when it
   * becomes revoked, only this connection's when other users keep the instance connected. Idempotent.
   */
  'sync-scheduler.references.mark-stale': defineRequest({
    request: z
      .object({
        orgId: ZOrgId,
        instanceId: ZUuid,
        connectionId: ZUuid,
        scope: z.enum(['instance', 'connection']),
        idempotencyKey: z.string().min(1).max(200),
      })
      .strict(),
    reply: z.object({ marked: z.number().int().min(0) }),
    errors: ['BAD_REQUEST', 'CONFLICT'],
  }),
  /**
   * The dashboard's job list of an instance: each job with its newest execution, execution and record counts. An
   * instance of a user-level provider has jobs per member's connection: with `limit`, at most that many, the jobs of
   * `firstConnectionIds` first (the caller's own, the org's), then the oldest others; `jobsTotal` counts them all.
   */
  'sync-scheduler.jobs.overview': defineRequest({
    request: z
      .object({
        orgId: ZOrgId,
        instanceId: ZUuid,
        firstConnectionIds: z.array(ZUuid).max(1_000).optional(),
        /** At most 500: a job's overview is about 1.2 KB of the reply, and a NATS message at most 1 MB. */
        limit: z.number().int().min(1).max(500).optional(),
      })
      .strict(),
    reply: z.object({
      /** Grouped by connection (the first connections' before the rest), then by resource. */
      jobs: z.array(ZSyncJobOverview),
      /** Every job of the instance, listed or not. Optional for older readers. */
      jobsTotal: z.number().int().min(0).optional(),
      references: z.object({ synced: z.number().int().min(0), stale: z.number().int().min(0) }),
    }),
    errors: ['BAD_REQUEST'],
  }),
  /**
   * A user enables or disables one job. Disabling cancels its running execution (as a disconnect does) and clears
   * any saga mark, so no compensation re-enables what a user turned off; enabling needs a `connected` connection
   * (PRECONDITION_FAILED `connection_not_connected`) whose jobs no disconnect holds (`disabled_by_disconnect`, also
   * when the disconnect began after the check; `connection_changed`: a reconnection moved the job meanwhile) and
   * makes the job due now if its next run is past.
   * `changed` is false when it already was in that state. NOT_FOUND for another org's job.
   */
  'sync-scheduler.jobs.set-enabled': defineRequest({
    request: ZJobRef.extend({ enabled: z.boolean() }).strict(),
    reply: z.object({
      job: ZSyncJob,
      changed: z.boolean(),
      executionsCancelled: z.number().int().min(0),
    }),
    errors: ['BAD_REQUEST', 'NOT_FOUND', 'PRECONDITION_FAILED', 'UNAVAILABLE'],
  }),
  /**
   * "Run now": the job is claimed ahead of its schedule (which stays as it is). A running execution finishes first
   * (`alreadyRunning`); repeated requests before the claim coalesce. PRECONDITION_FAILED `job_disabled`.
   */
  'sync-scheduler.jobs.run-now': defineRequest({
    request: ZJobRef,
    reply: z.object({ job: ZSyncJob, alreadyRunning: z.boolean() }),
    errors: ['BAD_REQUEST', 'NOT_FOUND', 'PRECONDITION_FAILED'],
  }),
  /** A job's executions, newest first, paged by `before` (an execution id from the previous page). */
  'sync-scheduler.executions.list': defineRequest({
    request: ZJobRef.extend({
      limit: z.number().int().min(1).max(100).default(20),
      before: ZUuid.optional(),
    }).strict(),
    reply: z.object({ executions: z.array(ZSyncExecution), nextBefore: ZUuid.nullable() }),
    errors: ['BAD_REQUEST', 'NOT_FOUND'],
  }),
  'sync-scheduler.executions.get': defineRequest({
    request: z.object({ orgId: ZOrgId, executionId: ZUuid }).strict(),
    reply: z.object({ execution: ZSyncExecution, job: ZSyncJob }),
    errors: ['BAD_REQUEST', 'NOT_FOUND'],
  }),
  /** Operations: this replica's engine (whichever replica answers): claims so far and their latency. */
  'sync-scheduler.engine.stats': defineRequest({
    request: z.object({}).strict(),
    reply: z.object({
      instanceId: z.string(),
      running: z.number().int().min(0),
      claims: z.object({
        count: z.number().int().min(0),
        jobsClaimed: z.number().int().min(0),
        p50Ms: z.number().min(0).nullable(),
        p99Ms: z.number().min(0).nullable(),
      }),
      executionsFinished: z.number().int().min(0),
      takeovers: z.number().int().min(0),
    }),
    errors: [],
  }),
  /**
   * What an instance holds of its tenant's data, from the tallies (O(1) per resource): synced records and external
   * references, per resource and in total; the unlink dialog shows what will be erased. Zeros for an instance with
   * none (or another org's).
   */
  'sync-scheduler.instances.data-summary': defineRequest({
    request: z.object({ orgId: ZOrgId, instanceId: ZUuid }).strict(),
    reply: z.object({
      records: z.number().int().nonnegative(),
      references: z.number().int().nonnegative(),
      byResource: z.array(
        z.object({
          resource: ZSyncResource,
          records: z.number().int().nonnegative(),
          references: z.number().int().nonnegative(),
        }),
      ),
    }),
    errors: ['BAD_REQUEST'],
  }),
  /**
   * Unlink saga step 2, the pivot: the instance's synced records and external references are deleted (with their
   * stale marks and restores; the tallies follow), in one transaction deduped by `idempotencyKey`. Sync jobs, their
   * field mappings and execution history are kept (a job of the old tenant's connection is never adopted by
   * another tenant's). CONFLICT `sync_running` (nothing erased) while an execution of the instance still runs;
   * `idempotency_key_reused` for a key used by another command. A replay answers the first result.
   */
  'sync-scheduler.instances.erase-data': defineRequest({
    request: z
      .object({ orgId: ZOrgId, instanceId: ZUuid, idempotencyKey: ZIdempotencyKey })
      .strict(),
    reply: z.object({
      recordsErased: z.number().int().nonnegative(),
      referencesErased: z.number().int().nonnegative(),
    }),
    errors: ['BAD_REQUEST', 'CONFLICT'],
  }),
  /**
   * The edge releases the idempotency records of sagas that ended longer ago than its retention (they never send
   * again): each key's row in this service's `processed_command` is deleted. Only saga keys; one the service never
   * saw is skipped. Idempotent.
   */
  'sync-scheduler.idempotency-records.forget': defineRequest({
    request: ZForgetIdempotencyRecords,
    reply: ZForgetIdempotencyRecordsReply,
    errors: ['BAD_REQUEST'],
  }),
} as const;
