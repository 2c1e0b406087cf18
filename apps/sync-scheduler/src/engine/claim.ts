import type { Knex } from '@mikro-orm/postgresql';
import type { TSchedule, TSyncResource } from '@otesse/contracts';
import { SYNC_SCHEMA_NAME as S } from '../sync-job.rows';
import { nextRunAt } from './next-run';

/** What a runner needs to run (or resume) one execution. */
export interface TClaimedExecution {
  executionId: string;
  jobId: string;
  orgId: string;
  instanceId: string;
  connectionId: string;
  vendor: string;
  resource: TSyncResource;
  /** Provider cursor to resume from (a takeover), null for a fresh run. */
  cursor: string | null;
  /** Batches already committed (by an earlier runner, for a takeover). */
  batches: number;
  takeover: boolean;
}

interface TDueJobRow {
  id: string;
  org_id: string;
  instance_id: string;
  connection_id: string;
  vendor: string;
  resource: TSyncResource;
  schedule: TSchedule;
  next_run_at: Date | string | null;
  run_requested_at: Date | string | null;
  db_now: Date | string;
}

/** A Postgres array literal (knex would expand a JS array into a list of parameters). */
export function pgArray(values: readonly (string | null)[]): string {
  const item = (v: string | null) =>
    v === null ? 'NULL' : `"${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
  return `{${values.map(item).join(',')}}`;
}

const notRunning = `not exists (select 1 from ${S}.sync_execution e where e.job_id = j.id and e.status = 'running')`;
/** A change of user's pause (on the job row itself, so a claim's lock re-checks it on the row the pause updated). */
const notPaused = `j.paused_by_saga_id is null`;
const DUE_COLUMNS = `j.id, j.org_id, j.instance_id, j.connection_id, j.vendor, j.resource, j.schedule,
  j.next_run_at, j.run_requested_at, now() as db_now`;

/**
 * Claims up to `limit` due jobs in one short transaction: locks them with `FOR UPDATE SKIP LOCKED` (replicas
 * claiming at the same moment take disjoint jobs, nobody waits), advances each job's `next_run_at` (or only clears
 * `run_requested_at` for a "run now" ahead of schedule), and inserts its `running` execution leased to `owner`.
 * A job that still has a running execution is not due: missed slots wait for it (the partial unique index
 * `sync_execution_one_running_per_job` is the backstop); nor is one a change of user paused. Two index-ordered
 * scans (run-now requests, then due by `next_run_at`) keep a claim O(limit) however many jobs are due.
 */
export async function claimDueJobs(
  knex: Knex,
  opts: { owner: string; leaseMs: number; limit: number },
): Promise<TClaimedExecution[]> {
  return knex.transaction(async (trx) => {
    const requested = (
      await trx.raw(
        `select ${DUE_COLUMNS} from ${S}.sync_job j
          where j.is_enabled and j.run_requested_at is not null and ${notPaused} and ${notRunning}
          order by j.run_requested_at limit ? for update of j skip locked`,
        [opts.limit],
      )
    ).rows as TDueJobRow[];
    let rows = requested;
    if (requested.length < opts.limit) {
      const due = (
        await trx.raw(
          `select ${DUE_COLUMNS} from ${S}.sync_job j
            where j.is_enabled and j.next_run_at <= now() and j.run_requested_at is null and ${notPaused}
              and ${notRunning}
            order by j.next_run_at limit ? for update of j skip locked`,
          [opts.limit - requested.length],
        )
      ).rows as TDueJobRow[];
      rows = [...requested, ...due];
    }
    if (rows.length === 0) return [];

    const plan = rows.map((r) => {
      const now = new Date(r.db_now);
      const scheduled = r.next_run_at === null ? null : new Date(r.next_run_at);
      const dueBySchedule = scheduled !== null && scheduled.getTime() <= now.getTime();
      return {
        id: r.id,
        // "Run now" ahead of schedule keeps the schedule; a due job moves to its next slot.
        next: dueBySchedule ? nextRunAt(r.schedule, scheduled, now) : scheduled,
        trigger: r.run_requested_at !== null ? 'manual' : 'schedule',
      };
    });
    // Arrays (not a jsonb recordset): the planner sees how few rows there are and updates by primary key.
    const inserted = (
      await trx.raw(
        `with v as (
           select * from unnest(?::uuid[], ?::timestamptz[], ?::text[]) as v(id, next_run_at, trigger)
         ), upd as (
           update ${S}.sync_job j
              set next_run_at = v.next_run_at, run_requested_at = null, updated_at = now()
             from v where j.id = v.id
           returning j.id, j.org_id, j.connection_id
         )
         insert into ${S}.sync_execution
           (job_id, org_id, connection_id, status, trigger, lease_owner, lease_expires_at, started_at)
         select upd.id, upd.org_id, upd.connection_id, 'running', v.trigger, ?,
                now() + ? * interval '1 millisecond', now()
           from upd join v on v.id = upd.id
         returning id, job_id`,
        [
          pgArray(plan.map((p) => p.id)),
          pgArray(plan.map((p) => p.next?.toISOString() ?? null)),
          pgArray(plan.map((p) => p.trigger)),
          opts.owner,
          opts.leaseMs,
        ],
      )
    ).rows as { id: string; job_id: string }[];
    const byJob = new Map(rows.map((r) => [r.id, r]));
    return inserted.map((e) => {
      const j = byJob.get(e.job_id) as TDueJobRow;
      return {
        executionId: e.id,
        jobId: j.id,
        orgId: j.org_id,
        instanceId: j.instance_id,
        connectionId: j.connection_id,
        vendor: j.vendor,
        resource: j.resource,
        cursor: null,
        batches: 0,
        takeover: false,
      };
    });
  });
}

/**
 * Expired leases: a runner that stopped heartbeating (crashed, partitioned) or released its lease on a graceful stop.
 * Executions past `maxTakeovers` crash-takeovers are failed (`lease_expired`); up to `limit` others are taken over by
 * `owner` (SKIP LOCKED: one replica per execution) and resume from their saved cursor. A released lease
 * (`lease_owner` null) is not a crash and does not count.
 */
export async function sweepExpiredLeases(
  knex: Knex,
  opts: { owner: string; leaseMs: number; limit: number; maxTakeovers: number },
): Promise<{ failed: number; taken: TClaimedExecution[] }> {
  const crashed = `(case when e.lease_owner is null then 0 else 1 end)`;
  const failed = (
    await knex.raw(
      `update ${S}.sync_execution e
          set status = 'failed', completed_at = now(), updated_at = now(), error_reason = 'lease_expired',
              error = 'its runner stopped renewing the lease too many times'
        where e.status = 'running' and e.lease_expires_at < now() and e.takeovers + ${crashed} > ?
        returning e.id`,
      [opts.maxTakeovers],
    )
  ).rows as { id: string }[];
  if (opts.limit <= 0) return { failed: failed.length, taken: [] };
  const taken = (
    await knex.raw(
      `with x as (
         select e.id from ${S}.sync_execution e
          where e.status = 'running' and e.lease_expires_at < now() and e.takeovers + ${crashed} <= ?
          order by e.lease_expires_at limit ? for update skip locked
       )
       update ${S}.sync_execution e
          set lease_owner = ?, lease_expires_at = now() + ? * interval '1 millisecond',
              takeovers = e.takeovers + ${crashed}, updated_at = now()
         from x, ${S}.sync_job j
        where e.id = x.id and j.id = e.job_id
       returning e.id, e.job_id, e.org_id, e.connection_id, e.cursor, e.batches,
                 j.instance_id, j.vendor, j.resource`,
      // Past the limit is never taken over, even one whose lease expired between the two statements: the next
      // sweep fails it.
      [opts.maxTakeovers, opts.limit, opts.owner, opts.leaseMs],
    )
  ).rows as {
    id: string;
    job_id: string;
    org_id: string;
    connection_id: string;
    cursor: string | null;
    batches: number;
    instance_id: string;
    vendor: string;
    resource: TSyncResource;
  }[];
  return {
    failed: failed.length,
    taken: taken.map((r) => ({
      executionId: r.id,
      jobId: r.job_id,
      orgId: r.org_id,
      instanceId: r.instance_id,
      connectionId: r.connection_id,
      vendor: r.vendor,
      resource: r.resource,
      cursor: r.cursor,
      batches: Number(r.batches),
      takeover: true,
    })),
  };
}
