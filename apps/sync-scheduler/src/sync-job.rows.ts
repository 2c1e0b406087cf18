import type { TSchedule, TSyncJob, TSyncResource } from '@otesse/contracts';

export const SYNC_SCHEMA_NAME = 'sync';

/** A `sync.sync_job` row as knex returns it (timestamptz as strings or Dates). */
export interface TSyncJobRow {
  id: string;
  org_id: string;
  instance_id: string;
  connection_id: string;
  vendor: string;
  resource: TSyncResource;
  schedule: TSchedule;
  is_enabled: boolean;
  next_run_at: Date | string | null;
  last_run_at: Date | string | null;
  run_requested_at: Date | string | null;
  disabled_by_saga_id: string | null;
  paused_by_saga_id: string | null;
  created_at: Date | string;
  updated_at: Date | string;
}

const iso = (d: Date | string): string => new Date(d).toISOString();
const isoOrNull = (d: Date | string | null): string | null => (d === null ? null : iso(d));

export function toSyncJob(r: TSyncJobRow): TSyncJob {
  return {
    id: r.id,
    orgId: r.org_id,
    instanceId: r.instance_id,
    connectionId: r.connection_id,
    vendor: r.vendor,
    resource: r.resource,
    schedule: r.schedule,
    isEnabled: r.is_enabled,
    nextRunAt: isoOrNull(r.next_run_at),
    lastRunAt: isoOrNull(r.last_run_at),
    runRequestedAt: isoOrNull(r.run_requested_at),
    pausedForChangeUser: r.paused_by_saga_id !== null,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}
