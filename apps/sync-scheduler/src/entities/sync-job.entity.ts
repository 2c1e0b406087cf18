import { EntitySchema } from '@mikro-orm/core';
import { SYNC_RESOURCES, type TSchedule, type TSyncResource } from '@otesse/contracts';

/**
 * One recurring sync of one resource over one connection. Never deleted: a disconnect disables it (kept for
 * reconnection), and only the saga that disabled it (`disabledBySagaId`) re-enables it when compensating.
 */
export interface SyncJob {
  id: string;
  orgId: string;
  instanceId: string;
  connectionId: string;
  vendor: string;
  resource: TSyncResource;
  schedule: TSchedule;
  isEnabled: boolean;
  /** When the scheduler should claim it next; claims scan the partial index `sync_job_due_idx`. */
  nextRunAt: Date | null;
  lastRunAt: Date | null;
  /** "Run now": claimed ahead of `nextRunAt`, cleared by the claim. */
  runRequestedAt: Date | null;
  disabledBySagaId: string | null;
  /**
   * A change of user's saga holds the job off between its pause and its resume (the job stays enabled, but is not
   * claimed): no run may start on the previous user's token and cross the swap (`disable-for-connection` with
   * purpose `changeUser`; lifted by `reenable-for-saga` of the same saga).
   */
  pausedBySagaId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export const SyncJobSchema = new EntitySchema<SyncJob>({
  name: 'SyncJob',
  tableName: 'sync_job',
  indexes: [
    { name: 'sync_job_org_instance_idx', properties: ['orgId', 'instanceId'] },
    // Partial indexes: created by hand-written SQL in the migration; declared here (compared by name) so
    // generated migrations keep them.
    {
      name: 'sync_job_due_idx',
      expression: `create index "sync_job_due_idx" on "sync"."sync_job" ("next_run_at") where "is_enabled"`,
    },
    {
      name: 'sync_job_run_requested_idx',
      expression: `create index "sync_job_run_requested_idx" on "sync"."sync_job" ("run_requested_at") where "is_enabled" and "run_requested_at" is not null`,
    },
    {
      name: 'sync_job_disabled_by_saga_idx',
      expression: `create index "sync_job_disabled_by_saga_idx" on "sync"."sync_job" ("disabled_by_saga_id") where "disabled_by_saga_id" is not null`,
    },
  ],
  uniques: [
    { name: 'sync_job_connection_resource_unique', properties: ['connectionId', 'resource'] },
  ],
  properties: {
    id: { type: 'uuid', primary: true, defaultRaw: 'gen_random_uuid()' },
    orgId: { type: 'uuid' },
    instanceId: { type: 'uuid' },
    connectionId: { type: 'uuid' },
    vendor: { type: 'string', length: 40 },
    resource: { enum: true, items: () => [...SYNC_RESOURCES], length: 16 } as never,
    schedule: { type: 'json' },
    isEnabled: { type: 'boolean', default: true },
    nextRunAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    lastRunAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    runRequestedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    disabledBySagaId: { type: 'uuid', nullable: true },
    pausedBySagaId: { type: 'uuid', nullable: true },
    createdAt: { type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' },
  },
});
