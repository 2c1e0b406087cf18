import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@otesse/testing';
import { REPLICA_ENV, startSyncKit, type TConnected, type TSyncKit } from './test/sync-test-kit';

const LEASE_MS = Number(REPLICA_ENV.SYNC_LEASE_MS);
const TICK_MS = Number(REPLICA_ENV.SYNC_TICK_MS);

/** Issue 4 done-when 1 and 2: two scheduler replicas as processes, sharing one database. */
describe('sync scheduler replicas (processes): exactly-once claims and crash recovery', () => {
  let kit: TSyncKit;

  beforeAll(async () => {
    kit = await startSyncKit({ replicas: ['replica-a', 'replica-b'] });
  });
  afterAll(async () => {
    await kit?.close();
  });

  it('runs each of 100 jobs due at the same moment exactly once', async () => {
    // 34 connections with a job per resource (the last one contacts only): 100 jobs.
    const conns: TConnected[] = [];
    for (let i = 0; i < 34; i += 17) {
      conns.push(...(await Promise.all(Array.from({ length: 17 }, () => kit.connect()))));
    }
    const plan = conns.flatMap((c, i) =>
      (i === 33 ? (['contacts'] as const) : (['contacts', 'invoices', 'tickets'] as const)).map(
        (resource) => ({ ...c, resource }),
      ),
    );
    expect(plan).toHaveLength(100);
    const calls = { ...kit.fake.state.dataCallCounts };
    // All due at once: one statement, one `now()`.
    const jobs = await kit.db.query<{ id: string }>(
      `insert into sync.sync_job (org_id, instance_id, connection_id, vendor, resource, schedule, next_run_at)
       select o, i, c, 'google', r, '{"kind":"interval","everySeconds":3600}', now()
         from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[]) as t(o, i, c, r)
       returning id`,
      [
        plan.map((p) => p.orgId),
        plan.map((p) => p.instanceId),
        plan.map((p) => p.connectionId),
        plan.map((p) => p.resource),
      ],
    );
    const ids = jobs.map((j) => j.id);
    const ended = () =>
      kit.db.query<{
        job_id: string;
        status: string;
        lease_owner: string;
        records_written: number;
      }>(
        `select job_id, status, lease_owner, records_written from sync.sync_execution where job_id = any($1)`,
        [ids],
      );
    await waitFor(
      async () => (await ended()).filter((e) => e.status !== 'running').length === 100,
      { timeoutMs: 30_000, intervalMs: 100, what: '100 executions to end' },
    );
    // A few more ticks of both replicas: nothing runs twice.
    await new Promise((r) => setTimeout(r, 5 * TICK_MS));
    const rows = await ended();
    expect(rows).toHaveLength(100);
    expect(new Set(rows.map((r) => r.job_id)).size).toBe(100);
    expect(rows.every((r) => r.status === 'succeeded' && r.records_written === 50)).toBe(true);
    expect(new Set(rows.map((r) => r.lease_owner))).toEqual(new Set(['replica-a', 'replica-b']));
    const now = kit.fake.state.dataCallCounts;
    expect(now.contacts + now.invoices + now.tickets).toBe(
      calls.contacts + calls.invoices + calls.tickets + 100,
    );
    const [records] = await kit.db.query<{ n: string }>(
      `select count(*) as n from sync.synced_record where instance_id = any($1)`,
      [conns.map((c) => c.instanceId)],
    );
    expect(Number(records!.n)).toBe(5_000);
    const next = await kit.db.query<{ in_s: number }>(
      `select extract(epoch from next_run_at - now()) as in_s from sync.sync_job where id = any($1)`,
      [ids],
    );
    expect(next.every((n) => n.in_s > 3_500)).toBe(true);
  });

  it('a replica killed mid-execution: the survivor takes it over when the lease expires and finishes it; the job runs again later', async () => {
    kit.fake.state.applyConfig({ pageDelayMs: 300, dataCounts: { contacts: 600 } });
    const c = await kit.connect();
    const jobId = await kit.addJob(c, 'contacts');
    await kit.bus.request('sync-scheduler.jobs.run-now', { orgId: c.orgId, jobId });
    const running = await waitFor(
      async () => {
        const [e] = await kit.executions(jobId);
        return e && e.status === 'running' && e.batches >= 2 ? e : undefined;
      },
      { timeoutMs: 15_000, what: 'two committed batches' },
    );
    const victim = running.lease_owner!;
    const survivor = victim === 'replica-a' ? 'replica-b' : 'replica-a';
    await kit.replicas.get(victim)!.kill('sync-scheduler', 'SIGKILL');
    const killedAt = Date.now();
    kit.fake.state.applyConfig({ pageDelayMs: 0 });

    const taken = await waitFor(
      async () => {
        const [e] = await kit.executions(jobId);
        return e && e.lease_owner === survivor ? e : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 20, what: 'the takeover' },
    );
    // Within its lease (plus the survivor's next tick), never left running.
    expect(Date.now() - killedAt).toBeLessThan(LEASE_MS + 20 * TICK_MS + 1_000);
    expect(taken.takeovers).toBe(1);
    const done = await kit.finished(jobId);
    expect(done).toMatchObject({
      id: running.id,
      status: 'succeeded',
      lease_owner: survivor,
      takeovers: 1,
      // Resumed from the cursor saved with the last committed batch: every page written exactly once.
      batches: 12,
      records_written: 600,
    });
    const [records] = await kit.db.query<{ n: string }>(
      `select count(*) as n from sync.synced_record where instance_id = $1`,
      [c.instanceId],
    );
    expect(Number(records!.n)).toBe(600);

    await kit.bus.request('sync-scheduler.jobs.run-now', { orgId: c.orgId, jobId });
    expect(await kit.finished(jobId, { after: 1 })).toMatchObject({
      status: 'succeeded',
      lease_owner: survivor,
      takeovers: 0,
      records_written: 600,
    });
  });
});
