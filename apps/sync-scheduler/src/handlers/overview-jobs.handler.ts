import { referenceStateCounts } from '../reference-counts';
import type { MikroORM } from '@mikro-orm/postgresql';
import { SYNC_EXECUTION_STATUSES } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import { EXECUTION_COLUMNS, toSyncExecution, type TSyncExecutionRow } from '../execution.rows';
import { SYNC_SCHEMA_NAME as S, toSyncJob, type TSyncJobRow } from '../sync-job.rows';

/** Code-point order, as Postgres sorts uuids and these enum texts (no locale). */
const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The dashboard's list: an instance's jobs, each with its newest execution, execution counts (the job's whole life,
 * from the tally) and record count, and the instance's references by state. With a
 * limit, the first connections' jobs come first and the cut is made in the database (an instance may have jobs for
 * every member of the org).
 */
export function overviewJobsHandler(orm: MikroORM): THandler<'sync-scheduler.jobs.overview'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    const first = req.firstConnectionIds ?? [];
    const q = knex('sync_job')
      .withSchema(S)
      .where({ org_id: req.orgId, instance_id: req.instanceId })
      .select('*');
    if (req.limit !== undefined) {
      // The first connections' jobs, then the oldest; grouped by connection below.
      q.orderByRaw('(connection_id = any(?::uuid[])) desc, created_at, id', [first]).limit(
        req.limit,
      );
    }
    const [picked, total] = await Promise.all([
      q as Promise<TSyncJobRow[]>,
      req.limit === undefined
        ? undefined
        : (knex('sync_job')
            .withSchema(S)
            .where({ org_id: req.orgId, instance_id: req.instanceId })
            .count({ n: '*' })
            .first() as Promise<{ n: string | number } | undefined>),
    ]);
    const firstSet = new Set(first);
    const jobs = [...picked].sort(
      (a, b) =>
        Number(firstSet.has(b.connection_id)) - Number(firstSet.has(a.connection_id)) ||
        byText(a.connection_id, b.connection_id) ||
        byText(a.resource, b.resource) ||
        new Date(a.created_at).getTime() - new Date(b.created_at).getTime(),
    );
    const ids = jobs.map((j) => j.id);
    const [last, counts, records, refs] = await Promise.all([
      ids.length === 0
        ? []
        : (knex
            .withSchema(S)
            .from('sync_execution as e')
            .join('sync_job as j', 'j.id', 'e.job_id')
            .whereIn('e.job_id', ids)
            .distinctOn('e.job_id')
            .orderBy([
              { column: 'e.job_id' },
              { column: 'e.started_at', order: 'desc' },
              { column: 'e.id', order: 'desc' },
            ])
            .select(...EXECUTION_COLUMNS) as Promise<TSyncExecutionRow[]>),
      // Kept by a trigger (execution-tally.entity.ts): a row per job and status, not a count over every run.
      ids.length === 0
        ? []
        : (knex('execution_tally')
            .withSchema(S)
            .whereIn('job_id', ids)
            .select('job_id', 'status', { n: 'executions_count' }) as Promise<
            { job_id: string; status: string; n: string }[]
          >),
      // Kept by triggers (record-tally.entity.ts, reference-tally.entity.ts): a refresh reads a few rows, not the
      // instance's records and references. The reference counts follow the derived states: a disconnect's mark
      // counts from the moment it committed.
      knex('record_tally')
        .withSchema(S)
        .where({ org_id: req.orgId, instance_id: req.instanceId })
        .select('resource', { n: 'records_count' }) as Promise<{ resource: string; n: string }[]>,
      referenceStateCounts(knex, req),
    ]);
    const lastByJob = new Map(last.map((r) => [r.job_id, toSyncExecution(r)]));
    const countsByJob = new Map<string, typeof counts>();
    for (const c of counts) countsByJob.set(c.job_id, [...(countsByJob.get(c.job_id) ?? []), c]);
    const recordsByResource = new Map(records.map((r) => [r.resource, Number(r.n)]));
    return {
      jobs: jobs.map((j) => {
        const mine = countsByJob.get(j.id) ?? [];
        const by = Object.fromEntries(
          SYNC_EXECUTION_STATUSES.map((s) => [s, Number(mine.find((c) => c.status === s)?.n ?? 0)]),
        ) as Record<(typeof SYNC_EXECUTION_STATUSES)[number], number>;
        return {
          job: toSyncJob(j),
          lastExecution: lastByJob.get(j.id) ?? null,
          executions: { total: mine.reduce((s, c) => s + Number(c.n), 0), ...by },
          records: recordsByResource.get(j.resource) ?? 0,
        };
      }),
      jobsTotal: total === undefined ? jobs.length : Number(total?.n ?? 0),
      references: refs,
    };
  };
}
