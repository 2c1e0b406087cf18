import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bus } from '@otesse/messaging';
import { waitFor, type TTestDatabase } from '@otesse/testing';
import {
  instanceWithDefaultJobs,
  startSyncSchedulerTestBed,
  type TSyncSchedulerTestBed,
} from '../test/sync-scheduler-test-bed';

/**
 * A job runs every interval for as long as it exists. Its ended executions are deleted once past the retention,
 * except its newest, by the scheduler on its own; the jobs panel's counts still say how many ran.
 */
describe('old sync executions deleted by the scheduler (real Postgres + NATS)', () => {
  let bed: TSyncSchedulerTestBed;
  let db: TTestDatabase;
  let bus: Bus;

  beforeAll(async () => {
    bed = await startSyncSchedulerTestBed('purge-test', {
      engine: { enabled: false },
      executionRetention: { days: 30, purgeIntervalMs: 300 },
    });
    ({ db, bus } = bed);
  });
  afterAll(async () => {
    await bed?.close();
  });

  it('keeps each job’s newest, every running one and every recent one; the counts keep them all', async () => {
    const { jobs, ...t } = await instanceWithDefaultJobs(bus);
    const jobId = (resource: string) => jobs.find((j) => j.resource === resource)!.id;
    // Per job: [status, days ago it started] (ended the same day; a running one has not ended).
    const seeded: Record<string, [string, number][]> = {
      // Two years of runs, the newest yesterday: the old ones go.
      contacts: [
        ['succeeded', 700],
        ['failed', 400],
        ['cancelled', 100],
        ['succeeded', 31],
        ['succeeded', 29],
        ['succeeded', 1],
      ],
      // Not run for months: its newest, old as it is, stays (the panel's "last run"); the one before goes.
      invoices: [
        ['succeeded', 200],
        ['failed', 120],
      ],
      // A run that started long ago and is still running (a takeover would resume it): never deleted.
      tickets: [
        ['skipped', 90],
        ['running', 60],
      ],
    };
    for (const [resource, runs] of Object.entries(seeded))
      for (const [status, daysAgo] of runs)
        await db.query(
          `insert into sync.sync_execution (job_id, org_id, connection_id, status, started_at, completed_at)
           values ($1, $2, $3, $4, now() - make_interval(days => $5),
                   case when $4 = 'running' then null else now() - make_interval(days => $5) end)`,
          [jobId(resource), t.orgId, t.connectionId, status, daysAgo],
        );
    const remaining = async () =>
      Object.fromEntries(
        (
          await db.query<{ resource: string; runs: [string, number][] }>(
            `select j.resource,
                    coalesce(json_agg(json_build_array(e.status, round(extract(epoch from now() - e.started_at) / 86400))
                               order by e.started_at) filter (where e.id is not null), '[]') as runs
               from sync.sync_job j left join sync.sync_execution e on e.job_id = j.id
              where j.connection_id = $1 group by j.resource`,
            [t.connectionId],
          )
        ).map((r) => [r.resource, r.runs]),
      );
    await waitFor(async () => (await remaining())['contacts']?.length === 2, {
      timeoutMs: 10_000,
      intervalMs: 100,
      what: 'the old executions deleted',
    });
    expect(await remaining()).toEqual({
      contacts: [
        ['succeeded', 29],
        ['succeeded', 1],
      ],
      invoices: [['failed', 120]],
      tickets: [['running', 60]],
    });
    // The panel: the newest run of each job, and the counts of every run it ever had.
    const overview = await bus.request('sync-scheduler.jobs.overview', {
      orgId: t.orgId,
      instanceId: t.instanceId,
    });
    const byResource = new Map(overview.jobs.map((j) => [j.job.resource, j]));
    expect(byResource.get('contacts')?.executions).toMatchObject({
      total: 6,
      succeeded: 4,
      failed: 1,
      cancelled: 1,
    });
    expect(byResource.get('invoices')?.lastExecution).toMatchObject({ status: 'failed' });
    expect(byResource.get('tickets')?.executions).toMatchObject({
      total: 2,
      running: 1,
      skipped: 1,
    });
  });
});
