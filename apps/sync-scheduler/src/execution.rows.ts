import type { TSyncExecution, TSyncResource } from '@otesse/contracts';

/** A `sync_execution` row joined with its job's instance and resource, as knex returns it. */
export interface TSyncExecutionRow {
  id: string;
  job_id: string;
  org_id: string;
  connection_id: string;
  instance_id: string;
  resource: TSyncResource;
  status: TSyncExecution['status'];
  trigger: TSyncExecution['trigger'];
  started_at: Date | string;
  completed_at: Date | string | null;
  records_fetched: number;
  records_written: number;
  references_upserted: number;
  references_restored: number;
  batches: number;
  fetch_ms: number;
  write_ms: number;
  takeovers: number;
  cancel_requested_at: Date | string | null;
  error_reason: string | null;
  error: string | null;
}

/** Select list for `sync_execution as e join sync_job as j on j.id = e.job_id`. */
export const EXECUTION_COLUMNS = [
  'e.id',
  'e.job_id',
  'e.org_id',
  'e.connection_id',
  'j.instance_id',
  'j.resource',
  'e.status',
  'e.trigger',
  'e.started_at',
  'e.completed_at',
  'e.records_fetched',
  'e.records_written',
  'e.references_upserted',
  'e.references_restored',
  'e.batches',
  'e.fetch_ms',
  'e.write_ms',
  'e.takeovers',
  'e.cancel_requested_at',
  'e.error_reason',
  'e.error',
] as const;

/** The same select list as SQL text, for raw queries (lateral joins). */
export const EXECUTION_COLUMNS_SQL = EXECUTION_COLUMNS.join(', ');

export function toSyncExecution(r: TSyncExecutionRow): TSyncExecution {
  const startedAt = new Date(r.started_at);
  const completedAt = r.completed_at === null ? null : new Date(r.completed_at);
  return {
    id: r.id,
    jobId: r.job_id,
    orgId: r.org_id,
    instanceId: r.instance_id,
    connectionId: r.connection_id,
    resource: r.resource,
    status: r.status,
    trigger: r.trigger,
    startedAt: startedAt.toISOString(),
    completedAt: completedAt?.toISOString() ?? null,
    durationMs:
      completedAt === null ? null : Math.max(0, completedAt.getTime() - startedAt.getTime()),
    recordsFetched: Number(r.records_fetched),
    recordsWritten: Number(r.records_written),
    referencesUpserted: Number(r.references_upserted),
    referencesRestored: Number(r.references_restored),
    batches: Number(r.batches),
    fetchMs: Number(r.fetch_ms),
    writeMs: Number(r.write_ms),
    takeovers: Number(r.takeovers),
    cancelRequestedAt:
      r.cancel_requested_at === null ? null : new Date(r.cancel_requested_at).toISOString(),
    errorReason: r.error_reason,
    error: r.error,
  };
}
