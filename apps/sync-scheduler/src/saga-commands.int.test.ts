import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import pg from 'pg';
import { SYNC_CANCEL_SIGNAL_SUBJECT, ZSyncCancelSignal } from '@otesse/contracts';
import { decodeJson, type Bus } from '@otesse/messaging';
import { waitFor, type TTestDatabase } from '@otesse/testing';
import {
  instanceWithDefaultJobs,
  startSyncSchedulerTestBed,
  type TSyncSchedulerTestBed,
} from './test/sync-scheduler-test-bed';

/** The disconnect saga's commands and the dashboard's job/execution endpoints, engine off (rows set up by hand). */
describe('sync-scheduler saga commands and job endpoints (real Postgres + NATS)', () => {
  let bed: TSyncSchedulerTestBed;
  let db: TTestDatabase;
  let nc: NatsConnection;
  let bus: Bus;
  const signals: string[][] = [];

  beforeAll(async () => {
    bed = await startSyncSchedulerTestBed('sync-saga-test', { engine: { enabled: false } });
    ({ db, nc, bus } = bed);
    nc.subscribe(SYNC_CANCEL_SIGNAL_SUBJECT, {
      callback: (_err, msg) => {
        const body = decodeJson(msg.data);
        if (body.ok) signals.push(ZSyncCancelSignal.parse(body.value).executionIds);
      },
    });
    await nc.flush();
  });
  afterAll(async () => {
    await bed?.close();
  });

  const setup = (
    resources: ('contacts' | 'invoices' | 'tickets')[] = ['contacts', 'invoices', 'tickets'],
  ) => instanceWithDefaultJobs(bus, { resources });
  const running = async (jobId: string, t: { orgId: string; connectionId: string }) =>
    (
      await db.query<{ id: string }>(
        `insert into sync.sync_execution (job_id, org_id, connection_id, status, lease_owner, lease_expires_at)
         values ($1, $2, $3, 'running', 'worker-x', now() + interval '1 minute') returning id`,
        [jobId, t.orgId, t.connectionId],
      )
    )[0]!.id;
  const jobRows = (connectionId: string) =>
    db.query<{ id: string; is_enabled: boolean; disabled_by_saga_id: string | null }>(
      `select id, is_enabled, disabled_by_saga_id from sync.sync_job where connection_id = $1 order by id`,
      [connectionId],
    );
  const execRow = async (id: string) =>
    (
      await db.query<{
        status: string;
        completed_at: Date | null;
        cancel_requested_at: Date | null;
      }>(
        `select status, completed_at, cancel_requested_at from sync.sync_execution where id = $1`,
        [id],
      )
    )[0]!;
  const ref = (
    t: { orgId: string; instanceId: string },
    connectionId: string,
    externalId: string,
  ) =>
    db.query(
      `insert into sync.external_reference
         (org_id, instance_id, connection_id, resource, external_id, local_record_id, last_synced_at)
       values ($1, $2, $3, 'contacts', $4, gen_random_uuid(), now())`,
      [t.orgId, t.instanceId, connectionId, externalId],
    );

  /** The disconnect's step 6 under a new key. */
  const markStale = (
    t: { orgId: string; instanceId: string; connectionId: string },
    scope: 'connection' | 'instance',
  ) =>
    bus.request('sync-scheduler.references.mark-stale', {
      orgId: t.orgId,
      instanceId: t.instanceId,
      connectionId: t.connectionId,
      scope,
      idempotencyKey: `${randomUUID()}:mark-stale`,
    });
  const countReferences = (t: { orgId: string; instanceId: string }) =>
    bus.request('sync-scheduler.references.count', { orgId: t.orgId, instanceId: t.instanceId });

  it('summarizes what a disconnect would stop, scoped by org', async () => {
    const t = await setup();
    await db.query(`update sync.sync_job set is_enabled = false where id = $1`, [t.jobs[2]!.id]);
    await running(t.jobs[0]!.id, t);
    expect(
      await bus.request('sync-scheduler.connections.summary', {
        orgId: t.orgId,
        connectionId: t.connectionId,
      }),
    ).toEqual({ jobs: 3, enabledJobs: 2, runningExecutions: 1 });
    expect(
      await bus.request('sync-scheduler.connections.summary', {
        orgId: randomUUID(),
        connectionId: t.connectionId,
      }),
    ).toEqual({ jobs: 0, enabledJobs: 0, runningExecutions: 0 });
  });

  it('disable-for-connection disables only enabled jobs, cancels running executions, signals them, and replays', async () => {
    const t = await setup();
    const other = await setup();
    const userDisabled = t.jobs[2]!;
    await db.query(`update sync.sync_job set is_enabled = false where id = $1`, [userDisabled.id]);
    const exec = await running(t.jobs[0]!.id, t);
    const otherExec = await running(other.jobs[0]!.id, other);
    const sagaId = randomUUID();
    const req = {
      orgId: t.orgId,
      connectionId: t.connectionId,
      sagaId,
      idempotencyKey: `${sagaId}:disable-jobs`,
    };
    const before = Date.now();
    const res = await bus.request('sync-scheduler.jobs.disable-for-connection', req);
    expect(res).toEqual({
      jobsDisabled: 2,
      jobIds: [t.jobs[0]!.id, t.jobs[1]!.id].sort(),
      executionsCancelled: 1,
      jobsPaused: 0,
    });
    const rows = await jobRows(t.connectionId);
    expect(rows.every((r) => !r.is_enabled)).toBe(true);
    // Only the jobs it disabled carry the saga: its compensation must not turn on what a user turned off.
    expect(rows.find((r) => r.id === userDisabled.id)?.disabled_by_saga_id).toBeNull();
    expect(rows.filter((r) => r.disabled_by_saga_id === sagaId)).toHaveLength(2);
    const cancelled = await execRow(exec);
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.completed_at!.getTime()).toBeGreaterThanOrEqual(before - 1_000);
    expect(cancelled.cancel_requested_at).not.toBeNull();
    await waitFor(() => signals.some((s) => s.includes(exec)), { what: 'cancel signal' });
    // Another connection is untouched.
    expect((await execRow(otherExec)).status).toBe('running');
    expect((await jobRows(other.connectionId)).every((r) => r.is_enabled)).toBe(true);

    // A replay answers the first result and changes nothing, even after a new running execution appeared.
    const late = await running(t.jobs[1]!.id, t);
    expect(await bus.request('sync-scheduler.jobs.disable-for-connection', req)).toEqual(res);
    expect((await execRow(late)).status).toBe('running');
    // The same key for another command is refused.
    await expect(bus.request('sync-scheduler.jobs.reenable-for-saga', req)).rejects.toMatchObject({
      code: 'CONFLICT',
      reason: 'idempotency_key_reused',
    });
  });

  it('reenable-for-saga re-enables exactly the jobs its saga disabled, once', async () => {
    const t = await setup();
    const userDisabled = t.jobs[1]!;
    await db.query(`update sync.sync_job set is_enabled = false where id = $1`, [userDisabled.id]);
    const sagaId = randomUUID();
    const base = { orgId: t.orgId, connectionId: t.connectionId, sagaId };
    await bus.request('sync-scheduler.jobs.disable-for-connection', {
      ...base,
      idempotencyKey: `${sagaId}:disable`,
    });
    // Another saga's compensation re-enables nothing.
    expect(
      await bus.request('sync-scheduler.jobs.reenable-for-saga', {
        ...base,
        sagaId: randomUUID(),
        idempotencyKey: `${randomUUID()}:reenable`,
      }),
    ).toEqual({ jobsReenabled: 0, jobsResumed: 0 });
    const again = { ...base, idempotencyKey: `${sagaId}:reenable` };
    expect(await bus.request('sync-scheduler.jobs.reenable-for-saga', again)).toEqual({
      jobsReenabled: 2,
      jobsResumed: 0,
    });
    const rows = await jobRows(t.connectionId);
    expect(rows.map((r) => [r.id, r.is_enabled, r.disabled_by_saga_id]).sort()).toEqual(
      t.jobs
        .map((j) => [j.id, j.id !== userDisabled.id, null] as const)
        .map((r) => [...r])
        .sort(),
    );
    // The user disables a job afterwards: replaying the compensation does not turn it back on.
    await db.query(`update sync.sync_job set is_enabled = false where id = $1`, [t.jobs[0]!.id]);
    expect(await bus.request('sync-scheduler.jobs.reenable-for-saga', again)).toEqual({
      jobsReenabled: 2,
      jobsResumed: 0,
    });
    expect((await jobRows(t.connectionId)).find((r) => r.id === t.jobs[0]!.id)?.is_enabled).toBe(
      false,
    );
  });

  it("a change of user's pause keeps the jobs enabled, pauses all of them, cancels the running executions as user_changed, and replays; its saga's reenable lifts exactly its pause", async () => {
    const t = await setup();
    const other = await setup();
    const userDisabled = t.jobs[2]!;
    await db.query(`update sync.sync_job set is_enabled = false where id = $1`, [userDisabled.id]);
    const exec = await running(t.jobs[0]!.id, t);
    const otherExec = await running(other.jobs[0]!.id, other);
    const sagaId = randomUUID();
    const req = {
      orgId: t.orgId,
      connectionId: t.connectionId,
      sagaId,
      purpose: 'changeUser' as const,
      idempotencyKey: `${sagaId}:pause-sync`,
    };
    const res = await bus.request('sync-scheduler.jobs.disable-for-connection', req);
    expect(res).toEqual({ jobsDisabled: 0, jobIds: [], executionsCancelled: 1, jobsPaused: 3 });
    const paused = () =>
      db.query<{ id: string; is_enabled: boolean; paused_by_saga_id: string | null }>(
        `select id, is_enabled, paused_by_saga_id from sync.sync_job where connection_id = $1 order by id`,
        [t.connectionId],
      );
    expect((await paused()).map((r) => [r.is_enabled, r.paused_by_saga_id])).toEqual(
      [...t.jobs]
        .sort((a, b) => a.id.localeCompare(b.id))
        .map((j) => [j.id !== userDisabled.id, sagaId]),
    );
    const [cancelled] = await db.query<{ status: string; error_reason: string }>(
      `select status, error_reason from sync.sync_execution where id = $1`,
      [exec],
    );
    expect(cancelled).toEqual({ status: 'cancelled', error_reason: 'user_changed' });
    expect((await execRow(exec)).completed_at).not.toBeNull();
    await waitFor(() => signals.some((s) => s.includes(exec)), { what: 'cancel signal' });
    expect((await execRow(otherExec)).status).toBe('running');
    // No hold: a disconnect's hold would refuse a user's enable as disabled_by_disconnect.
    expect(
      await db.query(`select 1 from sync.connection_job_hold where connection_id = $1`, [
        t.connectionId,
      ]),
    ).toEqual([]);

    // A job's view says it is paused, and why a run asked for now waits: it starts once the change of user is done.
    const asked = await bus.request('sync-scheduler.jobs.run-now', {
      orgId: t.orgId,
      jobId: t.jobs[1]!.id,
    });
    expect(asked.job).toMatchObject({ isEnabled: true, pausedForChangeUser: true });
    expect(asked.job.runRequestedAt).not.toBeNull();

    // A replay answers the first result and cancels nothing new.
    const late = await running(t.jobs[1]!.id, t);
    expect(await bus.request('sync-scheduler.jobs.disable-for-connection', req)).toEqual(res);
    expect((await execRow(late)).status).toBe('running');

    // Another saga lifts nothing; this one's lifts the pause of every job, once.
    expect(
      await bus.request('sync-scheduler.jobs.reenable-for-saga', {
        orgId: t.orgId,
        connectionId: t.connectionId,
        sagaId: randomUUID(),
        idempotencyKey: `${randomUUID()}:resume-sync`,
      }),
    ).toEqual({ jobsReenabled: 0, jobsResumed: 0 });
    const resume = {
      orgId: t.orgId,
      connectionId: t.connectionId,
      sagaId,
      idempotencyKey: `${sagaId}:resume-sync`,
    };
    expect(await bus.request('sync-scheduler.jobs.reenable-for-saga', resume)).toEqual({
      jobsReenabled: 0,
      jobsResumed: 3,
    });
    expect(await bus.request('sync-scheduler.jobs.reenable-for-saga', resume)).toEqual({
      jobsReenabled: 0,
      jobsResumed: 3,
    });
    expect((await paused()).map((r) => [r.is_enabled, r.paused_by_saga_id])).toEqual(
      [...t.jobs]
        .sort((a, b) => a.id.localeCompare(b.id))
        .map((j) => [j.id !== userDisabled.id, null]),
    );
    const { jobs } = await bus.request('sync-scheduler.jobs.overview', {
      orgId: t.orgId,
      instanceId: t.instanceId,
    });
    expect(jobs.filter((j) => j.job.connectionId === t.connectionId)).toHaveLength(3);
    for (const { job } of jobs) expect(job.pausedForChangeUser).toBe(false);
  });

  const pauseMarks = (connectionId: string) =>
    db.query<{ paused_by_saga_id: string | null }>(
      `select paused_by_saga_id from sync.sync_job where connection_id = $1 order by id`,
      [connectionId],
    );
  /** Sessions of the test database waiting for a lock (a row lock, or a key another transaction inserted). */
  const lockWaiters = async () =>
    (
      await db.query<{ n: number }>(
        `select count(*)::int as n from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock'`,
      )
    )[0]!.n;

  it("a pause slow to commit and its saga's compensation meet: the compensation waits for it and lifts it; a later copy pauses nothing", async () => {
    const t = await setup();
    const sagaId = randomUUID();
    const pause = {
      orgId: t.orgId,
      connectionId: t.connectionId,
      sagaId,
      purpose: 'changeUser' as const,
      idempotencyKey: `${sagaId}:pause-sync`,
    };
    const compensate = {
      orgId: t.orgId,
      connectionId: t.connectionId,
      sagaId,
      idempotencyKey: `${sagaId}:pause-sync:compensate`,
    };
    // Another session holds a job's row lock (a claim, a user's enable, a stalled transaction): the pause waits.
    const holder = new pg.Client({ connectionString: db.adminUrl });
    await holder.connect();
    let pauseAnswer: Promise<unknown> | undefined;
    let compensated: Promise<{ jobsReenabled: number; jobsResumed?: number }> | undefined;
    try {
      await holder.query('begin');
      await holder.query(`select id from sync.sync_job where id = $1 for update`, [t.jobs[0]!.id]);
      // The saga's attempt: it gives up (its timeout) while the pause's transaction is still open.
      pauseAnswer = bus
        .request('sync-scheduler.jobs.disable-for-connection', pause)
        .catch((e) => e);
      await waitFor(async () => (await lockWaiters()) >= 1, { what: 'the pause to wait' });
      // The saga compensates; its lift may be answered by any replica.
      let answered = false;
      compensated = bus.request('sync-scheduler.jobs.reenable-for-saga', compensate);
      void compensated.then(() => (answered = true)).catch(() => undefined);
      // It waits for the pause (on the pause's key); before the fix it lifted nothing and answered at once.
      await waitFor(async () => answered || (await lockWaiters()) >= 2, {
        what: 'the compensation to answer or to wait',
      });
      await holder.query('commit');
    } finally {
      await holder.end();
    }
    expect(await pauseAnswer).toEqual({
      jobsDisabled: 0,
      jobIds: [],
      executionsCancelled: 0,
      jobsPaused: 3,
    });
    expect(await compensated).toEqual({ jobsReenabled: 0, jobsResumed: 3 });
    expect((await pauseMarks(t.connectionId)).map((r) => r.paused_by_saga_id)).toEqual([
      null,
      null,
      null,
    ]);
    // A copy of the pause still on the wire replays its first answer and pauses nothing again.
    expect(await bus.request('sync-scheduler.jobs.disable-for-connection', pause)).toMatchObject({
      jobsPaused: 3,
    });
    expect((await pauseMarks(t.connectionId)).every((r) => r.paused_by_saga_id === null)).toBe(
      true,
    );
    const { jobs } = await bus.request('sync-scheduler.jobs.overview', {
      orgId: t.orgId,
      instanceId: t.instanceId,
    });
    expect(jobs.map((j) => j.job.pausedForChangeUser)).toEqual([false, false, false]);
  });

  it("a pause that arrives after its saga's compensation (never reached the scheduler before) pauses nothing", async () => {
    const t = await setup();
    const sagaId = randomUUID();
    const base = { orgId: t.orgId, connectionId: t.connectionId, sagaId };
    expect(
      await bus.request('sync-scheduler.jobs.reenable-for-saga', {
        ...base,
        idempotencyKey: `${sagaId}:pause-sync:compensate`,
      }),
    ).toEqual({ jobsReenabled: 0, jobsResumed: 0 });
    const exec = await running(t.jobs[0]!.id, t);
    expect(
      await bus.request('sync-scheduler.jobs.disable-for-connection', {
        ...base,
        purpose: 'changeUser',
        idempotencyKey: `${sagaId}:pause-sync`,
      }),
    ).toEqual({ jobsDisabled: 0, jobIds: [], executionsCancelled: 0, jobsPaused: 0 });
    expect((await pauseMarks(t.connectionId)).every((r) => r.paused_by_saga_id === null)).toBe(
      true,
    );
    expect((await execRow(exec)).status).toBe('running');
    // The compensation of a disconnect settles its own step's key, no pause key.
    const disconnectSaga = randomUUID();
    await bus.request('sync-scheduler.jobs.reenable-for-saga', {
      ...base,
      sagaId: disconnectSaga,
      idempotencyKey: `${disconnectSaga}:disable-sync-jobs:compensate`,
    });
    expect(
      await db.query(`select key from sync.processed_command where key like $1 order by key`, [
        `${disconnectSaga}%`,
      ]),
    ).toEqual([
      { key: `${disconnectSaga}:disable-sync-jobs` },
      { key: `${disconnectSaga}:disable-sync-jobs:compensate` },
    ]);
  });

  it("a disconnect's disable slow to commit and its saga's compensation meet: the late disable disables, holds and cancels nothing", async () => {
    const t = await setup();
    const exec = await running(t.jobs[1]!.id, t);
    const sagaId = randomUUID();
    const base = { orgId: t.orgId, connectionId: t.connectionId, sagaId };
    const disable = { ...base, idempotencyKey: `${sagaId}:disable-sync-jobs` };
    const compensate = { ...base, idempotencyKey: `${sagaId}:disable-sync-jobs:compensate` };
    // Another session holds a job's row lock (a claim, a user's enable, a stalled transaction): the disable waits.
    const holder = new pg.Client({ connectionString: db.adminUrl });
    await holder.connect();
    let disableAnswer: Promise<unknown> | undefined;
    try {
      await holder.query('begin');
      await holder.query(`select id from sync.sync_job where id = $1 for update`, [t.jobs[0]!.id]);
      // The saga's attempts give up (their timeout) while the disable's statement still waits.
      disableAnswer = bus
        .request('sync-scheduler.jobs.disable-for-connection', disable)
        .catch((e) => e);
      await waitFor(async () => (await lockWaiters()) >= 1, { what: 'the disable to wait' });
      // The saga compensates: nothing is disabled yet, and the compensation ends the saga.
      expect(await bus.request('sync-scheduler.jobs.reenable-for-saga', compensate)).toEqual({
        jobsReenabled: 0,
        jobsResumed: 0,
      });
      await holder.query('commit');
    } finally {
      await holder.end();
    }
    // The late disable finds its key settled: it answers that it did nothing (before the fix it disabled all 3).
    expect(await disableAnswer).toEqual({
      jobsDisabled: 0,
      jobIds: [],
      executionsCancelled: 0,
      jobsPaused: 0,
    });
    expect(
      (await jobRows(t.connectionId)).map((r) => [r.is_enabled, r.disabled_by_saga_id]),
    ).toEqual([
      [true, null],
      [true, null],
      [true, null],
    ]);
    expect(
      await db.query(`select 1 from sync.connection_job_hold where connection_id = $1`, [
        t.connectionId,
      ]),
    ).toEqual([]);
    expect((await execRow(exec)).status).toBe('running');
    // A copy still on the wire replays the same, and the user may still turn a job off and on (no hold).
    expect(await bus.request('sync-scheduler.jobs.disable-for-connection', disable)).toMatchObject({
      jobsDisabled: 0,
    });
    expect(
      await bus.request('sync-scheduler.jobs.set-enabled', {
        orgId: t.orgId,
        jobId: t.jobs[2]!.id,
        enabled: false,
      }),
    ).toMatchObject({ changed: true });
  });

  it("a disconnect clears a change of user's pause mark; a reconnection's adoption too", async () => {
    const t = await setup();
    const pausing = randomUUID();
    await bus.request('sync-scheduler.jobs.disable-for-connection', {
      orgId: t.orgId,
      connectionId: t.connectionId,
      sagaId: pausing,
      purpose: 'changeUser',
      idempotencyKey: `${pausing}:pause-sync`,
    });
    // One job a user had turned off: the disconnect leaves it off, and unpaused too.
    await db.query(`update sync.sync_job set is_enabled = false where id = $1`, [t.jobs[2]!.id]);
    const disconnect = randomUUID();
    const base = { orgId: t.orgId, connectionId: t.connectionId, sagaId: disconnect };
    expect(
      await bus.request('sync-scheduler.jobs.disable-for-connection', {
        ...base,
        idempotencyKey: `${disconnect}:disable-sync-jobs`,
      }),
    ).toMatchObject({ jobsDisabled: 2, jobsPaused: 0 });
    expect((await pauseMarks(t.connectionId)).every((r) => r.paused_by_saga_id === null)).toBe(
      true,
    );
    // The disconnect is compensated: its jobs run again (no pause of a change of user that is over holds them).
    expect(
      await bus.request('sync-scheduler.jobs.reenable-for-saga', {
        ...base,
        idempotencyKey: `${disconnect}:disable-sync-jobs:compensate`,
      }),
    ).toEqual({ jobsReenabled: 2, jobsResumed: 0 });
    const asked = await bus.request('sync-scheduler.jobs.run-now', {
      orgId: t.orgId,
      jobId: t.jobs[0]!.id,
    });
    expect(asked.job).toMatchObject({ isEnabled: true, pausedForChangeUser: false });

    // A mark left on a disconnected connection's jobs (from before this fix): the new connection adopts them
    // without it.
    await db.query(
      `update sync.sync_job set paused_by_saga_id = gen_random_uuid() where connection_id = $1`,
      [t.connectionId],
    );
    const adopted = await bus.request('sync-scheduler.jobs.create-defaults', {
      orgId: t.orgId,
      instanceId: t.instanceId,
      connectionId: randomUUID(),
      vendor: 'zendesk',
      resources: ['contacts', 'invoices', 'tickets'],
      adoptFromConnectionId: t.connectionId,
    });
    expect(adopted.adopted).toBe(3);
    expect(adopted.jobs.map((j) => j.pausedForChangeUser)).toEqual([false, false, false]);
  });

  it('mark-stale marks the whole instance or only one connection’s references, set-based and once', async () => {
    const t = await setup(['contacts']);
    const colleague = randomUUID();
    for (const id of ['c-1', 'c-2', 'c-3']) await ref(t, t.connectionId, id);
    await ref(t, colleague, 'c-4');
    const foreign = { orgId: randomUUID(), instanceId: randomUUID() };
    await ref(foreign, t.connectionId, 'c-5');
    // The step writes one stale mark; the states are derived from it, right away.
    const statusOf = async () =>
      Object.fromEntries(
        (
          await db.query<{ external_id: string; status: string; stale_since: Date | null }>(
            `select external_id, status, stale_since from sync.external_reference_state order by external_id`,
          )
        )
          .filter((r) => ['c-1', 'c-2', 'c-3', 'c-4', 'c-5'].includes(r.external_id))
          .map((r) => [r.external_id, `${r.status}${r.stale_since ? '+since' : ''}`]),
      );
    const byConnection = {
      orgId: t.orgId,
      instanceId: t.instanceId,
      connectionId: t.connectionId,
      scope: 'connection' as const,
      idempotencyKey: `${randomUUID()}:mark-stale`,
    };
    expect(await bus.request('sync-scheduler.references.mark-stale', byConnection)).toEqual({
      marked: 3,
    });
    expect(await statusOf()).toEqual({
      'c-1': 'stale+since',
      'c-2': 'stale+since',
      'c-3': 'stale+since',
      'c-4': 'synced',
      'c-5': 'synced',
    });
    expect(await bus.request('sync-scheduler.references.mark-stale', byConnection)).toEqual({
      marked: 3,
    });
    const byInstance = {
      ...byConnection,
      scope: 'instance' as const,
      idempotencyKey: `${randomUUID()}:mark-stale`,
    };
    expect(await bus.request('sync-scheduler.references.mark-stale', byInstance)).toEqual({
      marked: 1,
    });
    expect((await statusOf())['c-4']).toBe('stale+since');
    // Another org's reference with the same connection id is never touched.
    expect((await statusOf())['c-5']).toBe('synced');
    // A new key on an all-stale instance marks nothing more.
    expect(await markStale(t, 'instance')).toEqual({ marked: 0 });
    expect(await countReferences(t)).toEqual({ synced: 0, stale: 4 });
  });

  it('mark-stale never counts a reference twice: those an earlier mark covers are stale already', async () => {
    const t = await setup(['contacts']);
    const colleague = randomUUID();
    for (const id of ['p-1', 'p-2', 'p-3']) await ref(t, t.connectionId, id);
    await ref(t, colleague, 'p-4');
    // An earlier disconnect's mark of this connection's references.
    await db.query(
      `insert into sync.reference_stale_mark (org_id, instance_id, connection_id, stale_since, references_at_mark)
       values ($1, $2, $3, now(), 3)`,
      [t.orgId, t.instanceId, t.connectionId],
    );
    expect(await markStale(t, 'connection')).toEqual({ marked: 0 });
    // A complete sync of the connection's resource since: synced again, so the next mark counts them.
    await db.query(
      `insert into sync.reference_restore (instance_id, connection_id, resource, org_id, restored_at)
       values ($1, $3, 'contacts', $2, now())`,
      [t.instanceId, t.orgId, t.connectionId],
    );
    expect(await markStale(t, 'connection')).toEqual({ marked: 3 });
    expect(await markStale(t, 'instance')).toEqual({ marked: 1 });
    expect(await countReferences(t)).toEqual({ synced: 0, stale: 4 });
  });

  it('keeps each connection’s reference tally in the writers’ transactions, whatever the writer', async () => {
    const t = await setup(['contacts']);
    const colleague = randomUUID();
    const tally = async () =>
      Object.fromEntries(
        (
          await db.query<{ connection_id: string; references_count: number }>(
            `select connection_id, references_count from sync.reference_tally where instance_id = $1`,
            [t.instanceId],
          )
        ).map((r) => [
          r.connection_id === t.connectionId ? 'mine' : 'colleague',
          r.references_count,
        ]),
      );
    for (const id of ['t-1', 't-2', 't-3']) await ref(t, t.connectionId, id);
    expect(await tally()).toEqual({ mine: 3 });
    // The colleague's sync re-links one (upserts move a reference to the connection that synced it last).
    await db.query(
      `update sync.external_reference set connection_id = $2, last_synced_at = now()
        where instance_id = $1 and external_id = 't-1'`,
      [t.instanceId, colleague],
    );
    await db.query(
      `delete from sync.external_reference where instance_id = $1 and external_id = 't-2'`,
      [t.instanceId],
    );
    expect(await tally()).toEqual({ mine: 1, colleague: 1 });
    // The step's count comes from the tally: no mark covers them yet.
    expect(await markStale(t, 'instance')).toEqual({ marked: 2 });
  });

  it('counts references by state from the tally exactly as the view derives them: marks, a sync running since, restores per resource', async () => {
    const t = await setup(['contacts']);
    const colleague = randomUUID();
    const write = (connectionId: string, resource: string, ids: string[], at = 'now()') =>
      db.query(
        `insert into sync.external_reference
           (org_id, instance_id, connection_id, resource, external_id, local_record_id, last_synced_at)
         select $1, $2, $3, $4, x, gen_random_uuid(), ${at} from unnest($5::text[]) x
         on conflict (instance_id, resource, external_id) do update
           set connection_id = excluded.connection_id, last_synced_at = excluded.last_synced_at`,
        [t.orgId, t.instanceId, connectionId, resource, ids],
      );
    const restore = (connectionId: string, resource: string) =>
      db.query(
        `insert into sync.reference_restore (instance_id, connection_id, resource, org_id, restored_at)
         values ($1, $2, $3, $4, now())
         on conflict (instance_id, connection_id, resource) do update set restored_at = excluded.restored_at`,
        [t.instanceId, connectionId, resource, t.orgId],
      );
    // What the view says, row by row: the rule the counts must keep.
    const fromView = async () => {
      const rows = await db.query<{ status: string; n: number }>(
        `select status, count(*)::int as n from sync.external_reference_state where instance_id = $1
          group by status`,
        [t.instanceId],
      );
      return {
        synced: rows.find((r) => r.status === 'synced')?.n ?? 0,
        stale: rows.find((r) => r.status === 'stale')?.n ?? 0,
      };
    };
    const mine = (resource: string, n: number, from = 0) =>
      Array.from({ length: n }, (_, i) => `${resource}-${i + from}`);
    const expectCounts = async (expected: { synced: number; stale: number }) => {
      expect(await countReferences(t)).toEqual(expected);
      expect(await fromView()).toEqual(expected);
    };

    await write(t.connectionId, 'contacts', mine('contacts', 4));
    await write(t.connectionId, 'tickets', mine('tickets', 3));
    await write(colleague, 'contacts', ['theirs-1', 'theirs-2']);
    await expectCounts({ synced: 9, stale: 0 });
    // The user disconnects: their references stale, the colleague's not.
    expect(await markStale(t, 'connection')).toEqual({ marked: 7 });
    await expectCounts({ synced: 2, stale: 7 });
    // The user reconnects; a contacts sync is under way: two of four written again since the mark.
    await write(t.connectionId, 'contacts', mine('contacts', 2));
    await expectCounts({ synced: 4, stale: 5 });
    // It completes: the resource's restore settles all four, although two were not returned again.
    await restore(t.connectionId, 'contacts');
    await expectCounts({ synced: 6, stale: 3 });
    // The colleague's routine sync restores nothing of the user's tickets.
    await restore(colleague, 'tickets');
    await expectCounts({ synced: 6, stale: 3 });
    // The app disconnects the instance: everything stale, and counted once.
    expect(await markStale(t, 'instance')).toEqual({ marked: 6 });
    await expectCounts({ synced: 0, stale: 9 });
    // A sync written at the very moment of the mark is covered by it (the view's `>=`).
    const [{ at }] = (await db.query<{ at: string }>(
      `select max(stale_since)::text as at from sync.reference_stale_mark where instance_id = $1`,
      [t.instanceId],
    )) as [{ at: string }];
    await write(colleague, 'tickets', ['theirs-t'], `'${at}'::timestamptz`);
    await expectCounts({ synced: 0, stale: 10 });
    // A colleague's re-linked reference moves between the connections' counts.
    await write(colleague, 'contacts', ['contacts-3'], `now() + interval '2 seconds'`);
    await expectCounts({ synced: 1, stale: 9 });
    expect(
      await db.query(
        `select connection_id = $2 as mine, resource, references_count as n from sync.reference_tally
          where instance_id = $1 and references_count > 0 order by 1, 2`,
        [t.instanceId, t.connectionId],
      ),
    ).toEqual([
      { mine: false, resource: 'contacts', n: 3 },
      { mine: false, resource: 'tickets', n: 1 },
      { mine: true, resource: 'contacts', n: 3 },
      { mine: true, resource: 'tickets', n: 3 },
    ]);
    // Another org asking about this instance sees nothing.
    expect(
      await bus.request('sync-scheduler.references.count', {
        orgId: randomUUID(),
        instanceId: t.instanceId,
      }),
    ).toEqual({ synced: 0, stale: 0 });
  });

  it('a reader sees a mark at once, and a reference a sync wrote after the mark stays synced', async () => {
    const t = await setup(['contacts']);
    for (const id of ['m-1', 'm-2']) await ref(t, t.connectionId, id);
    expect(await markStale(t, 'instance')).toEqual({ marked: 2 });
    // A sync after a reconnect writes a reference later than the mark.
    await db.query(
      `insert into sync.external_reference (org_id, instance_id, connection_id, resource, external_id, local_record_id, last_synced_at)
       values ($1, $2, $3, 'contacts', 'm-3', gen_random_uuid(), now() + interval '1 second')`,
      [t.orgId, t.instanceId, t.connectionId],
    );
    // Asked right away, the count already reflects the mark.
    expect(await countReferences(t)).toEqual({ synced: 1, stale: 2 });
    const rows = await db.query<{ external_id: string; status: string }>(
      `select external_id, status from sync.external_reference_state where instance_id = $1 order by external_id`,
      [t.instanceId],
    );
    expect(rows).toEqual([
      { external_id: 'm-1', status: 'stale' },
      { external_id: 'm-2', status: 'stale' },
      { external_id: 'm-3', status: 'synced' },
    ]);
  });

  it('disabling a job cancels its running execution; run-now coalesces and refuses a disabled job', async () => {
    const t = await setup(['contacts', 'tickets']);
    const [job, other] = t.jobs as [(typeof t.jobs)[0], (typeof t.jobs)[0]];
    const exec = await running(job.id, t);
    const first = await bus.request('sync-scheduler.jobs.run-now', {
      orgId: t.orgId,
      jobId: job.id,
    });
    expect(first.alreadyRunning).toBe(true);
    const requestedAt = first.job.runRequestedAt;
    expect(requestedAt).not.toBeNull();
    const second = await bus.request('sync-scheduler.jobs.run-now', {
      orgId: t.orgId,
      jobId: job.id,
    });
    expect(second.job.runRequestedAt).toBe(requestedAt);
    expect(second.job.nextRunAt).toBe(job.nextRunAt);

    const off = await bus.request('sync-scheduler.jobs.set-enabled', {
      orgId: t.orgId,
      jobId: job.id,
      enabled: false,
    });
    expect(off).toMatchObject({
      changed: true,
      executionsCancelled: 1,
      job: { isEnabled: false, runRequestedAt: null },
    });
    expect((await execRow(exec)).status).toBe('cancelled');
    await waitFor(() => signals.some((s) => s.includes(exec)), { what: 'cancel signal' });
    expect(
      await bus.request('sync-scheduler.jobs.set-enabled', {
        orgId: t.orgId,
        jobId: job.id,
        enabled: false,
      }),
    ).toMatchObject({ changed: false, executionsCancelled: 0 });
    await expect(
      bus.request('sync-scheduler.jobs.run-now', { orgId: t.orgId, jobId: job.id }),
    ).rejects.toMatchObject({ code: 'PRECONDITION_FAILED', reason: 'job_disabled' });
    // The other job of the connection is untouched.
    expect((await jobRows(t.connectionId)).find((r) => r.id === other.id)?.is_enabled).toBe(true);
    // Enabling needs the connection service to vouch for the connection; it does not answer here.
    await expect(
      bus.request('sync-scheduler.jobs.set-enabled', {
        orgId: t.orgId,
        jobId: job.id,
        enabled: true,
      }),
    ).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it("answers NOT_FOUND for another org's job or execution, and lists executions newest first in pages", async () => {
    const t = await setup(['contacts']);
    const job = t.jobs[0]!;
    const intruder = randomUUID();
    for (const call of [
      () => bus.request('sync-scheduler.jobs.run-now', { orgId: intruder, jobId: job.id }),
      () =>
        bus.request('sync-scheduler.jobs.set-enabled', {
          orgId: intruder,
          jobId: job.id,
          enabled: false,
        }),
      () => bus.request('sync-scheduler.executions.list', { orgId: intruder, jobId: job.id }),
      () => bus.request('sync-scheduler.jobs.run-now', { orgId: t.orgId, jobId: randomUUID() }),
    ]) {
      await expect(call()).rejects.toMatchObject({ code: 'NOT_FOUND' });
    }
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      const [row] = await db.query<{ id: string }>(
        `insert into sync.sync_execution (job_id, org_id, connection_id, status, started_at, completed_at,
           records_fetched, records_written, batches, error_reason)
         values ($1, $2, $3, $4, now() - ($5 || ' minutes')::interval, now() - ($5 || ' minutes')::interval + interval '2 seconds',
           10, 10, 1, $6) returning id`,
        [
          job.id,
          t.orgId,
          t.connectionId,
          i === 0 ? 'failed' : 'succeeded',
          String(10 - i),
          i === 0 ? 'provider_unauthorized' : null,
        ],
      );
      ids.push(row!.id);
    }
    const page1 = await bus.request('sync-scheduler.executions.list', {
      orgId: t.orgId,
      jobId: job.id,
      limit: 3,
    });
    expect(page1.executions.map((e) => e.id)).toEqual([ids[4], ids[3], ids[2]]);
    expect(page1.executions[0]).toMatchObject({
      status: 'succeeded',
      durationMs: 2_000,
      recordsWritten: 10,
      resource: 'contacts',
      instanceId: t.instanceId,
      trigger: 'schedule',
    });
    const page2 = await bus.request('sync-scheduler.executions.list', {
      orgId: t.orgId,
      jobId: job.id,
      limit: 3,
      before: page1.nextBefore!,
    });
    expect(page2.executions.map((e) => e.id)).toEqual([ids[1], ids[0]]);
    expect(page2.nextBefore).toBeNull();

    const detail = await bus.request('sync-scheduler.executions.get', {
      orgId: t.orgId,
      executionId: ids[0]!,
    });
    expect(detail.execution).toMatchObject({
      status: 'failed',
      errorReason: 'provider_unauthorized',
    });
    expect(detail.job.id).toBe(job.id);
    await expect(
      bus.request('sync-scheduler.executions.get', { orgId: intruder, executionId: ids[0]! }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });

    const overview = await bus.request('sync-scheduler.jobs.overview', {
      orgId: t.orgId,
      instanceId: t.instanceId,
    });
    expect(overview.jobs).toHaveLength(1);
    expect(overview.jobs[0]).toMatchObject({
      job: { id: job.id },
      lastExecution: { id: ids[4] },
      executions: { total: 5, succeeded: 4, failed: 1, running: 0, cancelled: 0, skipped: 0 },
      records: 0,
    });
    expect(
      (
        await bus.request('sync-scheduler.jobs.overview', {
          orgId: intruder,
          instanceId: t.instanceId,
        })
      ).jobs,
    ).toEqual([]);
  });
});
