import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Bus } from '@otesse/messaging';
import { openOrm } from '@otesse/persistence';
import { waitFor } from '@otesse/testing';
import { syncSchedulerOrmConfig } from './db/orm.config';
import { setJobEnabledHandler } from './handlers/set-job-enabled.handler';
import type { TRunningSyncScheduler } from './sync-scheduler.service';
import { startSyncKit, type TSyncKit } from './test/sync-test-kit';

/**
 * The engine end to end in one scheduler: connection checks and access tokens over NATS from the real connection and
 * vault services (processes), pages from the fake provider over HTTP, batches into Postgres.
 */
describe('sync engine: executions against the fake provider (real Postgres, NATS, services)', () => {
  let kit: TSyncKit;
  let svc: TRunningSyncScheduler;

  beforeAll(async () => {
    kit = await startSyncKit();
    svc = await kit.startScheduler();
  });
  afterAll(async () => {
    await kit?.close();
  });
  beforeEach(() => {
    kit.fake.state.applyConfig({
      pageDelayMs: 0,
      dataCounts: { contacts: 50, invoices: 50, tickets: 50 },
    });
  });

  const runNow = async (c: { orgId: string }, jobId: string) =>
    kit.bus.request('sync-scheduler.jobs.run-now', { orgId: c.orgId, jobId });
  const records = (instanceId: string) =>
    kit.db.query<{
      external_id: string;
      data: Record<string, unknown>;
      source_connection_id: string;
    }>(
      `select external_id, data, source_connection_id from sync.synced_record where instance_id = $1
        order by length(external_id), external_id`,
      [instanceId],
    );
  const refs = (instanceId: string) =>
    kit.db.query<{ external_id: string; status: string; local_record_id: string }>(
      `select external_id, status, local_record_id from sync.external_reference_state where instance_id = $1
        order by length(external_id), external_id`,
      [instanceId],
    );

  /**
   * A disconnect saga's steps on the connection service and on the scheduler (lock, disable the jobs, statuses,
   * mark the references), each under its saga key; the sagaId is returned with the mark's answer.
   */
  const disconnect = async (
    c: { orgId: string; instanceId: string; connectionId: string },
    markScope: 'connection' | 'instance',
  ) => {
    const sagaId = randomUUID();
    const cmd = { orgId: c.orgId, connectionId: c.connectionId, sagaId };
    await kit.bus.request('connection.connections.begin-disconnect', {
      ...cmd,
      idempotencyKey: `${sagaId}:lock`,
    });
    await kit.bus.request('sync-scheduler.jobs.disable-for-connection', {
      ...cmd,
      idempotencyKey: `${sagaId}:disable-sync-jobs`,
    });
    await kit.bus.request('connection.connections.complete-disconnect', {
      ...cmd,
      idempotencyKey: `${sagaId}:update-statuses`,
    });
    return kit.bus.request('sync-scheduler.references.mark-stale', {
      orgId: c.orgId,
      instanceId: c.instanceId,
      connectionId: c.connectionId,
      scope: markScope,
      idempotencyKey: `${sagaId}:mark-references-stale`,
    });
  };

  it('runs a job on demand: every page in its own batch, records mapped, references synced, counts recorded', async () => {
    const c = await kit.connect();
    const jobId = await kit.addJob(c, 'contacts');
    await kit.db.query(
      `insert into sync.field_mapping (org_id, instance_id, resource, local_field, remote_field)
       values ($1, $2, 'contacts', 'name', 'name'), ($1, $2, 'contacts', 'email', 'email')`,
      [c.orgId, c.instanceId],
    );
    const before = kit.fake.state.dataCallCounts.contacts;
    const { alreadyRunning, job } = await runNow(c, jobId);
    expect(alreadyRunning).toBe(false);
    expect(job.nextRunAt).toBeNull();
    const exec = await kit.finished(jobId);
    expect(exec).toMatchObject({
      status: 'succeeded',
      trigger: 'manual',
      records_fetched: 50,
      records_written: 50,
      references_upserted: 50,
      batches: 3,
      takeovers: 0,
      error_reason: null,
      cursor: null,
    });
    expect(kit.fake.state.dataCallCounts.contacts - before).toBe(3);
    const recs = await records(c.instanceId);
    expect(recs).toHaveLength(50);
    expect(recs[0]).toEqual({
      external_id: 'ct-1',
      data: { name: expect.any(String), email: expect.stringMatching(/\.1@acme\.test$/) },
      source_connection_id: c.connectionId,
    });
    const r = await refs(c.instanceId);
    expect(r.every((x) => x.status === 'synced')).toBe(true);
    expect(r).toHaveLength(50);

    const { execution, job: after } = await kit.bus.request('sync-scheduler.executions.get', {
      orgId: c.orgId,
      executionId: exec.id,
    });
    expect(execution.durationMs).toBeGreaterThanOrEqual(0);
    expect(execution.fetchMs + execution.writeMs).toBeGreaterThan(0);
    expect(after.lastRunAt).not.toBeNull();
    expect(after.runRequestedAt).toBeNull();
    // Nothing runs it again: not due, no request.
    await new Promise((res) => setTimeout(res, 200));
    expect(await kit.executions(jobId)).toHaveLength(1);

    // A second run updates the same rows instead of duplicating them.
    await runNow(c, jobId);
    expect(await kit.finished(jobId, { after: 1 })).toMatchObject({
      status: 'succeeded',
      records_written: 50,
    });
    expect(await records(c.instanceId)).toHaveLength(50);
  });

  it('claims a job when it comes due, and moves it to its next slot', async () => {
    const c = await kit.connect();
    const jobId = await kit.addJob(c, 'contacts', { due: true, everySeconds: 600 });
    const exec = await kit.finished(jobId);
    expect(exec).toMatchObject({ status: 'succeeded', trigger: 'schedule' });
    const [job] = await kit.db.query<{ next_run_at: Date }>(
      `select next_run_at from sync.sync_job where id = $1`,
      [jobId],
    );
    const inMs = job!.next_run_at.getTime() - Date.now();
    expect(inMs).toBeGreaterThan(590_000);
    expect(inMs).toBeLessThanOrEqual(600_000);
  });

  it('resolves the instance subdomain for per-customer hosts (Zendesk tickets)', async () => {
    const c = await kit.connect({ vendor: 'zendesk' });
    const jobId = await kit.addJob(c, 'tickets');
    await runNow(c, jobId);
    expect(await kit.finished(jobId)).toMatchObject({ status: 'succeeded', records_written: 50 });
    expect(
      kit.fake.state.dataCalls.some((d) => d.resource === 'tickets' && d.instance === 'acme'),
    ).toBe(true);
  });

  it('turns the instance’s stale references synced again after the next successful sync', async () => {
    const c = await kit.connect();
    const jobId = await kit.addJob(c, 'contacts');
    await runNow(c, jobId);
    await kit.finished(jobId);
    // A reference the provider no longer returns, and the disconnect saga's step 6.
    await kit.db.query(
      `insert into sync.external_reference
         (org_id, instance_id, connection_id, resource, external_id, local_record_id, last_synced_at)
       values ($1, $2, $3, 'contacts', 'ct-gone', gen_random_uuid(), now() - interval '1 day')`,
      [c.orgId, c.instanceId, c.connectionId],
    );
    const marked = await kit.bus.request('sync-scheduler.references.mark-stale', {
      orgId: c.orgId,
      instanceId: c.instanceId,
      connectionId: c.connectionId,
      scope: 'instance',
      idempotencyKey: `${randomUUID()}:mark-stale`,
    });
    expect(marked.marked).toBe(51);
    expect(
      await kit.bus.request('sync-scheduler.references.count', {
        orgId: c.orgId,
        instanceId: c.instanceId,
      }),
    ).toEqual({ synced: 0, stale: 51 });

    await runNow(c, jobId);
    const exec = await kit.finished(jobId, { after: 1 });
    expect(exec).toMatchObject({ status: 'succeeded', references_restored: 51 });
    expect(
      await kit.bus.request('sync-scheduler.references.count', {
        orgId: c.orgId,
        instanceId: c.instanceId,
      }),
    ).toEqual({ synced: 51, stale: 0 });
    const [gone] = await kit.db.query<{
      status: string;
      stale_since: Date | null;
      last_synced_at: Date;
    }>(
      `select status, stale_since, last_synced_at from sync.external_reference_state
        where instance_id = $1 and external_id = 'ct-gone'`,
      [c.instanceId],
    );
    expect(gone).toMatchObject({ status: 'synced', stale_since: null });
    // It still says when the provider last returned it.
    expect(gone!.last_synced_at.getTime()).toBeLessThan(Date.now() - 3_600_000);
    // The tally the mark step counts from agrees with the rows the syncs' upserts wrote.
    expect(
      await kit.db.query(
        `select connection_id, resource, references_count as n from sync.reference_tally where instance_id = $1
          order by connection_id, resource`,
        [c.instanceId],
      ),
    ).toEqual(
      await kit.db.query(
        `select connection_id, resource, count(*)::int as n from sync.external_reference where instance_id = $1
          group by connection_id, resource order by connection_id, resource`,
        [c.instanceId],
      ),
    );
  });

  it("another user's sync leaves a disconnected user's stale references stale; the user's reconnection restores them", async () => {
    // Users A and B each have their own connection to one instance (contacts are per user).
    const a = await kit.connect({ level: 'user' });
    const b = await kit.connect({ level: 'user', orgId: a.orgId });
    expect(b.instanceId).toBe(a.instanceId);
    const scope = { orgId: a.orgId, instanceId: a.instanceId };
    const jobA = await kit.addJob(a, 'contacts');
    const jobB = await kit.addJob(b, 'contacts');
    await runNow(b, jobB);
    expect(await kit.finished(jobB)).toMatchObject({ status: 'succeeded' });
    // A's own contacts, which B's account never returns (B's sync wrote ct-1…ct-50).
    const mine = ['a-1', 'a-2', 'a-3'];
    for (const id of mine) {
      await kit.db.query(
        `insert into sync.external_reference
           (org_id, instance_id, connection_id, resource, external_id, local_record_id, last_synced_at)
         values ($1, $2, $3, 'contacts', $4, gen_random_uuid(), now() - interval '1 hour')`,
        [a.orgId, a.instanceId, a.connectionId, id],
      );
    }
    const stateOf = async () =>
      Object.fromEntries(
        (
          await kit.db.query<{ external_id: string; status: string }>(
            `select external_id, status from sync.external_reference_state
              where instance_id = $1 and external_id like 'a-%'`,
            [a.instanceId],
          )
        ).map((r) => [r.external_id, r.status]),
      );
    const count = () => kit.bus.request('sync-scheduler.references.count', scope);

    // A disconnects: only A's references are marked; B keeps the instance connected.
    expect(await disconnect(a, 'connection')).toEqual({ marked: 3 });
    expect(await count()).toEqual({ synced: 50, stale: 3 });
    // B's routine sync succeeds: it synced B's contacts, not A's.
    await runNow(b, jobB);
    expect(await kit.finished(jobB, { after: 1 })).toMatchObject({
      status: 'succeeded',
      references_restored: 0,
    });
    expect(await stateOf()).toEqual({ 'a-1': 'stale', 'a-2': 'stale', 'a-3': 'stale' });
    expect(await count()).toEqual({ synced: 50, stale: 3 });

    // B disconnects too (the last: the instance's references are marked), then user D connects and syncs.
    await disconnect(b, 'instance');
    expect(await count()).toEqual({ synced: 0, stale: 53 });
    const d = await kit.connect({ level: 'user', orgId: a.orgId });
    const jobD = await kit.addJob(d, 'contacts');
    await runNow(d, jobD);
    expect(await kit.finished(jobD)).toMatchObject({ status: 'succeeded' });
    // D's account returned ct-1…ct-50 (synced by D now); A's contacts are still not current.
    expect(await stateOf()).toEqual({ 'a-1': 'stale', 'a-2': 'stale', 'a-3': 'stale' });
    expect(await count()).toEqual({ synced: 50, stale: 3 });

    // A reconnects: a new connection of A's slot takes A's jobs over (as the edge's connect does), the user
    // enables the contacts job, and its first successful sync covers A's references.
    const a2 = await kit.connect({ level: 'user', orgId: a.orgId, userId: a.userId });
    const adopted = await kit.bus.request('sync-scheduler.jobs.create-defaults', {
      ...scope,
      connectionId: a2.connectionId,
      vendor: a2.vendor,
      resources: [],
      adoptFromConnectionId: a.connectionId,
    });
    expect(adopted).toMatchObject({ adopted: 1, jobs: [{ id: jobA, isEnabled: false }] });
    await kit.bus.request('sync-scheduler.jobs.set-enabled', {
      orgId: a.orgId,
      jobId: jobA,
      enabled: true,
    });
    await runNow(a2, jobA);
    await kit.finished(jobA);
    // Enabling made the job due at once: Run now may have come after that run rather than joined it. The slot's
    // first successful sync is the one that restores A's references.
    const [firstRun] = await kit.executions(jobA);
    expect(firstRun).toMatchObject({
      status: 'succeeded',
      references_restored: 3,
    });
    expect(await stateOf()).toEqual({ 'a-1': 'synced', 'a-2': 'synced', 'a-3': 'synced' });
    expect(await count()).toEqual({ synced: 53, stale: 0 });

    // A's slot disconnects again: its mark covers what the earlier connection of the slot synced last too.
    expect(await disconnect(a2, 'connection')).toEqual({ marked: 53 });
    expect(await stateOf()).toEqual({ 'a-1': 'stale', 'a-2': 'stale', 'a-3': 'stale' });
    expect(await count()).toEqual({ synced: 0, stale: 53 });
  });

  it('an enable whose connection check passed just before a disconnect cannot turn the job back on after it', async () => {
    const c = await kit.connect({ level: 'user' });
    const jobId = await kit.addJob(c, 'contacts');
    // The user had turned it off; now turns it on while someone disconnects the connection.
    await kit.bus.request('sync-scheduler.jobs.set-enabled', {
      orgId: c.orgId,
      jobId,
      enabled: false,
    });
    const enabled = async () =>
      (
        await kit.db.query<{ is_enabled: boolean }>(
          `select is_enabled from sync.sync_job where id = $1`,
          [jobId],
        )
      )[0]!.is_enabled;

    // The enable handler as the scheduler runs it, on the real services; the disconnect's lock and disable steps
    // run right after the connection service answered its check (`connected`), before its update.
    const sagaId = randomUUID();
    const saga = { orgId: c.orgId, connectionId: c.connectionId, sagaId };
    const bus = new Bus(kit.nc, { timeoutMs: 10_000 });
    const request = bus.request.bind(bus);
    bus.request = (async (subject: string, payload: unknown, opts?: unknown) => {
      const answer = await (request as (s: string, p: unknown, o?: unknown) => Promise<unknown>)(
        subject,
        payload,
        opts,
      );
      if (subject === 'connection.connections.get') {
        expect(answer).toMatchObject({ connection: { status: 'connected' } });
        await kit.bus.request('connection.connections.begin-disconnect', {
          ...saga,
          idempotencyKey: `${sagaId}:lock`,
        });
        expect(
          await kit.bus.request('sync-scheduler.jobs.disable-for-connection', {
            ...saga,
            idempotencyKey: `${sagaId}:disable-sync-jobs`,
          }),
        ).toMatchObject({ jobsDisabled: 0 });
      }
      return answer;
    }) as typeof bus.request;
    const orm = await openOrm(syncSchedulerOrmConfig(kit.db.urlFor('sync-scheduler')));
    try {
      const enable = setJobEnabledHandler({ orm, nc: kit.nc, bus, engine: svc.engine });
      await expect(
        enable({ orgId: c.orgId, jobId, enabled: true }, { traceId: randomUUID() }),
      ).rejects.toMatchObject({ code: 'PRECONDITION_FAILED', reason: 'disabled_by_disconnect' });
    } finally {
      await orm.close(true);
    }
    expect(await enabled()).toBe(false);

    // The disconnect fails and compensates: the connection stays, and the user may enable the job again.
    await kit.bus.request('sync-scheduler.jobs.reenable-for-saga', {
      ...saga,
      idempotencyKey: `${sagaId}:disable-sync-jobs:compensate`,
    });
    await kit.bus.request('connection.connections.cancel-disconnect', {
      ...saga,
      idempotencyKey: `${sagaId}:lock:compensate`,
    });
    expect(await enabled()).toBe(false);
    await expect(
      kit.bus.request('sync-scheduler.jobs.set-enabled', { orgId: c.orgId, jobId, enabled: true }),
    ).resolves.toMatchObject({ changed: true, job: { isEnabled: true } });

    // A disconnect that completes holds the jobs disabled; the reconnection takes them over disabled, and the
    // user enables them on the new connection.
    await disconnect(c, 'connection');
    expect(await enabled()).toBe(false);
    await expect(
      kit.bus.request('sync-scheduler.jobs.set-enabled', { orgId: c.orgId, jobId, enabled: true }),
    ).rejects.toMatchObject({ code: 'PRECONDITION_FAILED' });
    const c2 = await kit.connect({ level: 'user', orgId: c.orgId, userId: c.userId });
    await kit.bus.request('sync-scheduler.jobs.create-defaults', {
      orgId: c.orgId,
      instanceId: c.instanceId,
      connectionId: c2.connectionId,
      vendor: c2.vendor,
      resources: [],
      adoptFromConnectionId: c.connectionId,
    });
    expect(await enabled()).toBe(false);
    await expect(
      kit.bus.request('sync-scheduler.jobs.set-enabled', { orgId: c.orgId, jobId, enabled: true }),
    ).resolves.toMatchObject({
      changed: true,
      job: { isEnabled: true, connectionId: c2.connectionId },
    });
    expect(
      await kit.db.query(`select * from sync.connection_job_hold where connection_id = $1`, [
        c.connectionId,
      ]),
    ).toEqual([]);
  });

  it('cancel mid-run: the batches committed before stay, nothing is written after, status cancelled with completedAt', async () => {
    kit.fake.state.applyConfig({ pageDelayMs: 250, dataCounts: { contacts: 400 } });
    const c = await kit.connect();
    const jobId = await kit.addJob(c, 'contacts');
    await runNow(c, jobId);
    await waitFor(async () => ((await kit.executions(jobId))[0]?.batches ?? 0) >= 2, {
      timeoutMs: 10_000,
      what: 'two committed batches',
    });
    const sagaId = randomUUID();
    const res = await kit.bus.request('sync-scheduler.jobs.disable-for-connection', {
      orgId: c.orgId,
      connectionId: c.connectionId,
      sagaId,
      idempotencyKey: `${sagaId}:disable-jobs`,
    });
    expect(res).toMatchObject({ jobsDisabled: 1, executionsCancelled: 1 });
    // The runner stops: the page it was reading (and the one it prefetched) are dropped, not written.
    await waitFor(() => svc.engine.stats().running === 0, {
      timeoutMs: 5_000,
      what: 'the runner stopped',
    });
    // Counted once it stopped, and requests already on their way have landed: one sent before the cancel can reach
    // the fake provider (in this very process, behind the test's own work on a loaded machine) after its answer.
    await new Promise((r) => setTimeout(r, 300));
    const callsBefore = kit.fake.state.dataCallCounts.contacts;
    const [atCancel] = await kit.executions(jobId);
    expect(atCancel).toMatchObject({ status: 'cancelled', error_reason: 'disconnect' });
    expect(atCancel!.completed_at).not.toBeNull();
    // Long enough for two more pages if the runner had not stopped.
    await new Promise((r) => setTimeout(r, 800));
    const [later] = await kit.executions(jobId);
    expect(later).toMatchObject({
      status: 'cancelled',
      batches: atCancel!.batches,
      records_written: atCancel!.records_written,
    });
    expect(later!.completed_at).toEqual(atCancel!.completed_at);
    expect(later!.records_written).toBe(later!.batches * 20);
    expect(later!.records_written).toBeLessThan(400);
    // What was committed is kept, in full.
    expect(await records(c.instanceId)).toHaveLength(later!.records_written);
    // Once stopped, it asked the provider for nothing more.
    expect(kit.fake.state.dataCallCounts.contacts - callsBefore).toBe(0);
    expect(svc.engine.stats().running).toBe(0);
  });

  it("a change of user's pause cancels the running execution (its batches kept) and holds the jobs until its saga resumes them", async () => {
    kit.fake.state.applyConfig({ pageDelayMs: 250, dataCounts: { contacts: 400 } });
    const c = await kit.connect();
    const jobId = await kit.addJob(c, 'contacts');
    await runNow(c, jobId);
    await waitFor(async () => ((await kit.executions(jobId))[0]?.batches ?? 0) >= 2, {
      timeoutMs: 10_000,
      what: 'two committed batches',
    });
    const sagaId = randomUUID();
    const cmd = { orgId: c.orgId, connectionId: c.connectionId, sagaId };
    const paused = await kit.bus.request('sync-scheduler.jobs.disable-for-connection', {
      ...cmd,
      purpose: 'changeUser',
      idempotencyKey: `${sagaId}:pause-sync`,
    });
    expect(paused).toMatchObject({ jobsDisabled: 0, jobsPaused: 1, executionsCancelled: 1 });
    const [atCancel] = await kit.executions(jobId);
    expect(atCancel).toMatchObject({ status: 'cancelled', error_reason: 'user_changed' });
    expect(atCancel!.completed_at).not.toBeNull();
    await new Promise((r) => setTimeout(r, 800));
    const [later] = await kit.executions(jobId);
    expect(later).toMatchObject({ status: 'cancelled', batches: atCancel!.batches });
    expect(await records(c.instanceId)).toHaveLength(later!.records_written);
    expect(later!.records_written).toBeGreaterThan(0);

    // Still enabled (a user's setting), but not claimed while paused: no run may start on the old token.
    kit.fake.state.applyConfig({ pageDelayMs: 0 });
    expect((await runNow(c, jobId)).job.isEnabled).toBe(true);
    await new Promise((r) => setTimeout(r, 600));
    expect(await kit.executions(jobId)).toHaveLength(1);

    expect(
      await kit.bus.request('sync-scheduler.jobs.reenable-for-saga', {
        ...cmd,
        idempotencyKey: `${sagaId}:resume-sync`,
      }),
    ).toEqual({ jobsReenabled: 0, jobsResumed: 1 });
    // The next run starts from the first page.
    const calls = kit.fake.state.dataCalls.length;
    expect(await kit.finished(jobId, { after: 1 })).toMatchObject({
      status: 'succeeded',
      records_written: 400,
    });
    expect(kit.fake.state.dataCalls[calls]).toMatchObject({ resource: 'contacts', cursor: null });
  });

  it('never starts a job whose connection is revoked, disconnecting or needs reconnecting', async () => {
    for (const [change, reason] of [
      [`status = 'revoked'`, 'connection_revoked'],
      [`status = 'disconnecting'`, 'connection_disconnecting'],
      [`refresh_token_expired = true`, 'refresh_token_expired'],
    ] as const) {
      const c = await kit.connect();
      const jobId = await kit.addJob(c, 'contacts');
      await kit.db.query(`update connection.integration_connection set ${change} where id = $1`, [
        c.connectionId,
      ]);
      const calls = kit.fake.state.dataCalls.length;
      await runNow(c, jobId);
      expect(await kit.finished(jobId)).toMatchObject({
        status: 'skipped',
        error_reason: reason,
        batches: 0,
        records_fetched: 0,
      });
      expect(kit.fake.state.dataCalls.length).toBe(calls);
      expect(await records(c.instanceId)).toEqual([]);
      // Nor can a user turn it back on until it is reconnected.
      await kit.db.query(`update sync.sync_job set is_enabled = false where id = $1`, [jobId]);
      await expect(
        kit.bus.request('sync-scheduler.jobs.set-enabled', {
          orgId: c.orgId,
          jobId,
          enabled: true,
        }),
      ).rejects.toMatchObject({ code: 'PRECONDITION_FAILED', reason: 'connection_not_connected' });
    }
  });

  const refreshesWith = (refreshToken: string) =>
    kit.fake.state.tokenCalls.filter(
      (t) => t.grantType === 'refresh_token' && t.refreshToken === refreshToken,
    );

  it('a token the provider refused before its recorded expiry: the runs renew it once through the vault and succeed', async () => {
    const c = await kit.connect();
    const contacts = await kit.addJob(c, 'contacts');
    const invoices = await kit.addJob(c, 'invoices');
    // The provider ends the access token early (password change, sessions revoked); the vault still holds it as
    // valid for an hour. Two runs of the connection meet the refusal together: the refresh takes 2 s (time for the
    // second run to start on a loaded machine, where 1 s was not always; under the vault's 2.5 s attempt timeout),
    // so the second run is handed the refused token too before the first one's refresh has answered.
    const tokenDelayMs = 2_000;
    kit.fake.state.expireTokens('access', { token: c.accessToken });
    const dataCallsBefore = kit.fake.state.dataCalls.length;
    kit.fake.state.applyConfig({ tokenDelayMs });
    try {
      await Promise.all([runNow(c, contacts), runNow(c, invoices)]);
      for (const jobId of [contacts, invoices]) {
        expect(await kit.finished(jobId)).toMatchObject({
          status: 'succeeded',
          records_written: 50,
          error_reason: null,
        });
      }
    } finally {
      kit.fake.state.applyConfig({ tokenDelayMs: 0 });
    }
    // One refresh for both: the vault renewed the refused token once.
    const [refresh] = refreshesWith(c.refreshToken);
    expect(refreshesWith(c.refreshToken)).toMatchObject([{ status: 200 }]);
    // A run's first page was refused (401: the expired token, the only one the provider refuses here), on the old
    // token, before that refresh answered; every other page was read on the renewed one. Whether the second run met
    // the refusal too or was handed the renewed token depends on when it asked the vault (on a loaded machine, after
    // the first one's renewal began: the vault then answers it the renewed token); either way one refresh served both.
    const calls = kit.fake.state.dataCalls.slice(dataCallsBefore);
    const refused = calls.filter((d) => d.status === 401);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(refused.every((d) => d.cursor === null)).toBe(true);
    expect(new Set(refused.map((d) => d.resource)).size).toBe(refused.length);
    for (const d of refused) {
      expect(Date.parse(d.at)).toBeLessThan(Date.parse(refresh!.at) + tokenDelayMs);
    }
    expect(calls.filter((d) => d.status !== 401).every((d) => d.status === 200)).toBe(true);
    // The next run uses the renewed token as it is: no refresh.
    const tokenCalls = kit.fake.state.tokenCalls.length;
    await runNow(c, contacts);
    expect(await kit.finished(contacts, { after: 1 })).toMatchObject({ status: 'succeeded' });
    expect(kit.fake.state.tokenCalls.length).toBe(tokenCalls);
    const { connection } = await kit.bus.request('connection.connections.get', {
      orgId: c.orgId,
      connectionId: c.connectionId,
    });
    expect(connection.refreshTokenExpired).toBe(false);
  });

  it('a refused token whose refresh token is dead too: the run fails and the connection needs reconnecting', async () => {
    const c = await kit.connect();
    const jobId = await kit.addJob(c, 'contacts');
    kit.fake.state.expireTokens('access', { token: c.accessToken });
    kit.fake.state.expireTokens('refresh', { token: c.refreshToken });
    await runNow(c, jobId);
    expect(await kit.finished(jobId)).toMatchObject({
      status: 'failed',
      error_reason: 'refresh_token_expired',
      records_written: 0,
    });
    expect(refreshesWith(c.refreshToken)).toMatchObject([{ status: 400, error: 'invalid_grant' }]);
    // The flag behind the dashboard's Reconnect warning (seed 003).
    const { connection } = await kit.bus.request('connection.connections.get', {
      orgId: c.orgId,
      connectionId: c.connectionId,
    });
    expect(connection.refreshTokenExpired).toBe(true);
    // The next run does not call the provider at all.
    const dataCalls = kit.fake.state.dataCalls.length;
    await runNow(c, jobId);
    expect(await kit.finished(jobId, { after: 1 })).toMatchObject({
      status: 'skipped',
      error_reason: 'refresh_token_expired',
    });
    expect(kit.fake.state.dataCalls.length).toBe(dataCalls);
  });

  it('a provider that refuses every token fails the run after one renewal instead of looping', async () => {
    const c = await kit.connect();
    const jobId = await kit.addJob(c, 'contacts');
    kit.fake.state.applyConfig({ dataApiMode: 'unauthorized' });
    try {
      const dataCalls = kit.fake.state.dataCalls.length;
      await runNow(c, jobId);
      const failed = await kit.finished(jobId);
      expect(failed).toMatchObject({
        status: 'failed',
        error_reason: 'provider_unauthorized',
        records_written: 0,
      });
      // The first token, then the renewed one; one refresh between them.
      expect(kit.fake.state.dataCalls.length - dataCalls).toBe(2);
      expect(refreshesWith(c.refreshToken)).toHaveLength(1);
      const [row] = await kit.db.query<{ error: string }>(
        'select error from sync.sync_execution where id = $1',
        [failed.id],
      );
      expect(row!.error).toMatch(/renewed token too/);
    } finally {
      kit.fake.state.applyConfig({ dataApiMode: 'ok' });
    }
  });

  it('a provider answering a redirect fails the run; the address it points at is never called', async () => {
    // What an admin-configured instance could point the scheduler at (metadata service, internal host).
    let internalHits = 0;
    const internal = createServer((_req, res) => {
      internalHits += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"items":[]}');
    });
    await new Promise<void>((r) => internal.listen(0, '127.0.0.1', () => r()));
    const c = await kit.connect();
    const jobId = await kit.addJob(c, 'contacts');
    kit.fake.state.applyConfig({
      dataApiRedirectTo: `http://127.0.0.1:${(internal.address() as AddressInfo).port}/latest/meta-data/`,
    });
    try {
      const dataCalls = kit.fake.state.dataCalls.length;
      await runNow(c, jobId);
      const failed = await kit.finished(jobId);
      expect(failed).toMatchObject({
        status: 'failed',
        error_reason: 'provider_error',
        records_written: 0,
      });
      const [row] = await kit.db.query<{ error: string }>(
        'select error from sync.sync_execution where id = $1',
        [failed.id],
      );
      expect(row!.error).toMatch(/answered 302, a redirect/);
      expect(kit.fake.state.dataCalls.slice(dataCalls)).toMatchObject([{ status: 302 }]);
      expect(internalHits).toBe(0);
    } finally {
      kit.fake.state.applyConfig({ dataApiRedirectTo: null });
      await new Promise((r) => internal.close(r));
    }
  });

  it('fails with the reason when the vault says the access token expired', async () => {
    const d = await kit.connect();
    const jobD = await kit.addJob(d, 'contacts');
    // The access token ran out and the provider no longer honours the refresh token: the vault cannot hand out a
    // usable token, and the runner must not call the provider at all.
    await kit.db.query(
      `update vault.credential set expires_at = now() - interval '1 minute' where connection_id = $1 and kind = 'access_token'`,
      [d.connectionId],
    );
    kit.fake.state.expireTokens('refresh', { token: d.refreshToken });
    const calls = kit.fake.state.dataCalls.length;
    await runNow(d, jobD);
    const failed = await kit.finished(jobD);
    expect(failed.status).toBe('failed');
    expect(failed.error_reason).toMatch(/expired/);
    expect(kit.fake.state.dataCalls.length).toBe(calls);
  });

  it('re-enabling a job through the dashboard subject makes it run; disabling stops its running execution', async () => {
    kit.fake.state.applyConfig({ pageDelayMs: 150, dataCounts: { contacts: 200 } });
    const c = await kit.connect();
    const jobId = await kit.addJob(c, 'contacts');
    await runNow(c, jobId);
    await waitFor(async () => ((await kit.executions(jobId))[0]?.batches ?? 0) >= 1, {
      what: 'a batch',
    });
    const off = await kit.bus.request('sync-scheduler.jobs.set-enabled', {
      orgId: c.orgId,
      jobId,
      enabled: false,
    });
    expect(off).toMatchObject({ changed: true, executionsCancelled: 1 });
    expect(await kit.finished(jobId)).toMatchObject({
      status: 'cancelled',
      error_reason: 'job_disabled',
    });
    kit.fake.state.applyConfig({ pageDelayMs: 0 });
    await kit.db.query(
      `update sync.sync_job set next_run_at = now() - interval '1 second' where id = $1`,
      [jobId],
    );
    const on = await kit.bus.request('sync-scheduler.jobs.set-enabled', {
      orgId: c.orgId,
      jobId,
      enabled: true,
    });
    expect(on).toMatchObject({ changed: true, job: { isEnabled: true } });
    expect(await kit.finished(jobId, { after: 1 })).toMatchObject({
      status: 'succeeded',
      records_written: 200,
    });
  });

  it('fails an execution whose runners kept dying (takeover limit) instead of leaving it running', async () => {
    const c = await kit.connect();
    const jobId = await kit.addJob(c, 'contacts');
    const [ghost] = await kit.db.query<{ id: string }>(
      `insert into sync.sync_execution
         (job_id, org_id, connection_id, status, lease_owner, lease_expires_at, takeovers, batches, cursor)
       values ($1, $2, $3, 'running', 'ghost-replica', now() - interval '1 second', 2, 3, 'b2s6NjA')
       returning id`,
      [jobId, c.orgId, c.connectionId],
    );
    const ended = await kit.finished(jobId);
    expect(ended).toMatchObject({
      id: ghost!.id,
      status: 'failed',
      error_reason: 'lease_expired',
      takeovers: 2,
      batches: 3,
    });
    expect(ended.completed_at).not.toBeNull();
    // The job itself is free to run again.
    await runNow(c, jobId);
    expect(await kit.finished(jobId, { after: 1 })).toMatchObject({ status: 'succeeded' });
  });

  it('graceful stop: the batch being written finishes, the lease is released, another replica resumes from the cursor', async () => {
    kit.fake.state.applyConfig({ pageDelayMs: 150, dataCounts: { contacts: 300 } });
    const c = await kit.connect();
    const jobId = await kit.addJob(c, 'contacts');
    await runNow(c, jobId);
    await waitFor(async () => ((await kit.executions(jobId))[0]?.batches ?? 0) >= 2, {
      what: 'two batches',
    });
    await svc.stop();
    const [released] = await kit.executions(jobId);
    expect(released).toMatchObject({ status: 'running', lease_owner: null });
    expect(released!.cursor).not.toBeNull();
    const committed = released!.batches;
    const calls = kit.fake.state.dataCalls.filter((d) => d.resource === 'contacts').length;

    kit.fake.state.applyConfig({ pageDelayMs: 0 });
    const next = await kit.startScheduler({ instanceId: 'replica-next' });
    const done = await kit.finished(jobId);
    expect(done).toMatchObject({
      id: released!.id,
      status: 'succeeded',
      lease_owner: 'replica-next',
      records_written: 300,
      batches: 15,
      // A handed-back lease is not a crash.
      takeovers: 0,
    });
    // Resumed from the saved cursor: only the pages not yet committed were fetched again.
    const after = kit.fake.state.dataCalls.filter((d) => d.resource === 'contacts').length;
    expect(after - calls).toBe(15 - committed);
    expect(await records(c.instanceId)).toHaveLength(300);
    await next.stop();
  });
});
