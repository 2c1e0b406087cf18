import { EntitySchema } from '@mikro-orm/core';
import {
  SYNC_EXECUTION_STATUSES,
  SYNC_EXECUTION_TRIGGERS,
  type TSyncExecutionStatus,
} from '@otesse/contracts';
import { SyncJobSchema } from './sync-job.entity';

/**
 * One run of a job. A worker holds it through a lease (`leaseOwner` until `leaseExpiresAt`, renewed per batch);
 * an expired lease lets another worker take over. At most one `running` execution per job (partial unique index
 * `sync_execution_one_running_per_job`). `orgId`/`connectionId` are copied from the job so the disconnect saga
 * cancels a connection's running executions without a join.
 *
 * Takeover: a runner that dies leaves its lease to expire; another replica's sweeper takes the execution over and
 * resumes from `cursor` (the provider's next-page cursor, saved in the same transaction as the batch it follows).
 * A lease released on a graceful stop has `leaseOwner = null` and is not counted in `takeovers`; after too many
 * takeovers the execution is failed (`lease_expired`) instead.
 */
export interface SyncExecution {
  id: string;
  jobId: string;
  orgId: string;
  connectionId: string;
  status: TSyncExecutionStatus;
  trigger: 'schedule' | 'manual';
  startedAt: Date;
  completedAt: Date | null;
  leaseOwner: string | null;
  leaseExpiresAt: Date | null;
  recordsFetched: number;
  recordsWritten: number;
  referencesUpserted: number;
  /** References that were `stale` and turned `synced` again. */
  referencesRestored: number;
  batches: number;
  fetchMs: number;
  writeMs: number;
  /** The provider's cursor of the next page to fetch (resume point of a takeover); null before the first batch. */
  cursor: string | null;
  takeovers: number;
  /** Machine-readable reason of a failure or a skip (`access_token_expired`, `connection_revoked`…). */
  errorReason: string | null;
  /** A short, secret-free summary (never a provider response body). */
  error: string | null;
  /** Asked to stop (user or disconnect); the worker checks between batches and ends `cancelled`. */
  cancelRequestedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export const SyncExecutionSchema = new EntitySchema<SyncExecution>({
  name: 'SyncExecution',
  tableName: 'sync_execution',
  indexes: [
    { name: 'sync_execution_job_started_idx', properties: ['jobId', 'startedAt'] },
    // The retention sweep's scan: ended executions past the retention, oldest first.
    {
      name: 'sync_execution_completed_idx',
      expression: `create index "sync_execution_completed_idx" on "sync"."sync_execution" ("completed_at") where "status" <> 'running'`,
    },
    // Partial indexes and the check: created by hand-written SQL in the migration; declared here so generated
    // migrations keep them.
    {
      name: 'sync_execution_one_running_per_job',
      expression: `create unique index "sync_execution_one_running_per_job" on "sync"."sync_execution" ("job_id") where "status" = 'running'`,
    },
    {
      name: 'sync_execution_running_lease_idx',
      expression: `create index "sync_execution_running_lease_idx" on "sync"."sync_execution" ("lease_expires_at") where "status" = 'running'`,
    },
    {
      name: 'sync_execution_running_connection_idx',
      expression: `create index "sync_execution_running_connection_idx" on "sync"."sync_execution" ("connection_id") where "status" = 'running'`,
    },
  ],
  checks: [
    {
      name: 'sync_execution_completed_iff_finished',
      expression: `("status" = 'running') = ("completed_at" is null)`,
    },
  ],
  properties: {
    id: { type: 'uuid', primary: true, defaultRaw: 'gen_random_uuid()' },
    jobId: {
      kind: 'm:1',
      entity: () => SyncJobSchema,
      mapToPk: true,
      fieldName: 'job_id',
      deleteRule: 'cascade',
      updateRule: 'no action',
    } as never,
    orgId: { type: 'uuid' },
    connectionId: { type: 'uuid' },
    status: { enum: true, items: () => [...SYNC_EXECUTION_STATUSES], length: 16 } as never,
    trigger: {
      enum: true,
      items: () => [...SYNC_EXECUTION_TRIGGERS],
      length: 16,
      default: 'schedule',
    } as never,
    startedAt: { type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' },
    completedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    leaseOwner: { type: 'string', length: 100, nullable: true },
    leaseExpiresAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    recordsFetched: { type: 'integer', default: 0 },
    recordsWritten: { type: 'integer', default: 0 },
    referencesUpserted: { type: 'integer', default: 0 },
    referencesRestored: { type: 'integer', default: 0 },
    batches: { type: 'integer', default: 0 },
    fetchMs: { type: 'integer', default: 0 },
    writeMs: { type: 'integer', default: 0 },
    cursor: { type: 'string', length: 2000, nullable: true },
    takeovers: { type: 'integer', default: 0 },
    errorReason: { type: 'string', length: 100, nullable: true },
    error: { type: 'string', length: 2000, nullable: true },
    cancelRequestedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    createdAt: { type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' },
  },
});
