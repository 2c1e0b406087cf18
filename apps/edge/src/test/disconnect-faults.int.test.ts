import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failUpdatesWhere, waitFor } from '@otesse/testing';
import { connectOAuth, startHarness, trpcErrorOf, type THarness } from './e2e-harness';
import { expectDisconnectedOnce } from './disconnect-helpers';

/** Issue 5 done-when 3–6: services (and the edge itself) failing mid-disconnect. */
describe('disconnect saga under faults (services as processes)', () => {
  let h: THarness;
  beforeAll(async () => {
    // A short saga lease so a killed edge's saga is resumed quickly by the restarted one.
    h = await startHarness({
      // Stopped sagas resume on their own 15 s after they stop (the default is 15 min).
      envFor: (s) =>
        s === 'edge'
          ? {
              SAGA_LEASE_MS: '1500',
              SAGA_RECOVERY_INTERVAL_MS: '250',
              SAGA_AUTO_RESUME_MS: '15000',
            }
          : {},
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  const auditFor = async (connectionId: string, action: string) =>
    (
      await h.admin.client.audit.list.query({ filters: { action: action as never }, limit: 200 })
    ).entries.filter((e) => e.targets.connectionId === connectionId);
  const sagaIdOf = (page: { items: { id: string; connectionId: string | null }[] }, id: string) =>
    page.items.find((o) => o.connectionId === id)?.id;
  /** The edge's `otesse_sagas{type="disconnect",status="failed"}` (0 when absent). */
  const stoppedGauge = async () => {
    const text = await (await fetch(`${h.stack.edgeUrl}/metrics`)).text();
    const line = text
      .split('\n')
      .find(
        (l) =>
          l.startsWith('otesse_sagas{') &&
          l.includes('type="disconnect"') &&
          l.includes('status="failed"'),
      );
    return line ? Number(line.split(' ').at(-1)) : 0;
  };
  const connectionStatus = async (id: string) =>
    (
      await h.db.query<{ status: string }>(
        `select status from connection.integration_connection where id = $1`,
        [id],
      )
    )[0]?.status;

  it('sync-scheduler down at the start: compensates, the connection stays connected and unlocked, the attempt is audited', async () => {
    const { connectionId } = await connectOAuth(h, h.member, 'google', 'user');
    await h.stack.kill('sync-scheduler');
    try {
      const err = await trpcErrorOf(
        h.member.client.disconnect.start.mutate({
          connectionId: connectionId!,
          confirm: true,
          waitMs: 15_000,
        }),
      );
      expect(err.code).toBe('SERVICE_UNAVAILABLE');
      expect(err.message).toMatch(/nothing was changed/);
      expect(await connectionStatus(connectionId!)).toBe('connected');
      const creds = await h.db.query(
        `select 1 from vault.credential where connection_id = $1 and is_active`,
        [connectionId],
      );
      expect(creds.length).toBe(2);
      await waitFor(
        async () => (await auditFor(connectionId!, 'connection.disconnect_failed')).length === 1,
      );
    } finally {
      await h.stack.start('sync-scheduler');
    }
    const jobs = await h.db.query<{ is_enabled: boolean }>(
      `select is_enabled from sync.sync_job where connection_id = $1`,
      [connectionId],
    );
    expect(jobs.length).toBeGreaterThan(0);
    expect(jobs.every((j) => j.is_enabled)).toBe(true);
    // Once the scheduler is back, the same connection disconnects normally.
    const { saga } = await h.member.client.disconnect.start.mutate({
      connectionId: connectionId!,
      confirm: true,
    });
    expect(saga.status).toBe('completed');
  });

  it('sync-scheduler restarted while a disconnect starts: the saga waits for it and completes, nothing undone', async () => {
    const { connectionId } = await connectOAuth(h, h.member, 'google', 'user');
    await h.stack.kill('sync-scheduler');
    // The restart (as a deploy does it): back about a second after the disconnect met no responders.
    const pending = h.member.client.disconnect.start.mutate({
      connectionId: connectionId!,
      confirm: true,
      waitMs: 20_000,
    });
    await new Promise((r) => setTimeout(r, 1_000));
    await h.stack.start('sync-scheduler');
    const { saga } = await pending;
    expect(saga.status).toBe('completed');
    const disable = saga.steps.find((st) => st.name === 'disable-sync-jobs');
    expect(disable?.attempts).toBeGreaterThan(3);
    expect(await connectionStatus(connectionId!)).toBe('revoked');
    await waitFor(
      async () => (await auditFor(connectionId!, 'connection.disconnected')).length === 1,
    );
    expect(await auditFor(connectionId!, 'connection.disconnect_failed')).toEqual([]);
  });

  it('audit service down: the disconnect completes and its entry appears when the service returns', async () => {
    const { connectionId } = await connectOAuth(h, h.viewer, 'google', 'user');
    await h.stack.kill('audit');
    let restarted = false;
    try {
      const { saga } = await h.viewer.client.disconnect.start.mutate({
        connectionId: connectionId!,
        confirm: true,
      });
      expect(saga.status).toBe('completed');
      await h.stack.start('audit');
      restarted = true;
      await waitFor(
        async () => (await auditFor(connectionId!, 'connection.disconnected')).length === 1,
        { timeoutMs: 15_000 },
      );
    } finally {
      if (!restarted) await h.stack.start('audit');
    }
  });

  it('vault down around the pivot: the saga waits and completes when the vault returns', async () => {
    const { connectionId } = await connectOAuth(h, h.admin, 'hubspot', 'app');
    await h.fakeClient.configure({ revokeDelayMs: 1_500 });
    try {
      const { sagaId } = await h.admin.client.disconnect.start.mutate({
        connectionId: connectionId!,
        confirm: true,
        waitMs: 0,
      });
      await waitFor(async () => {
        const s = await h.admin.client.disconnect.status.query({ sagaId });
        return s.steps.find((x) => x.name === 'revoke-tokens')?.status === 'running';
      });
      await h.stack.kill('credential-vault');
      await new Promise((r) => setTimeout(r, 1_000));
      await h.stack.start('credential-vault');
      const done = await waitFor(
        async () => {
          const s = await h.admin.client.disconnect.status.query({ sagaId });
          return s.status === 'completed' ? s : undefined;
        },
        { timeoutMs: 40_000, intervalMs: 200 },
      );
      expect(done.result).toMatchObject({ credentialsDeleted: 2 });
      expect(await connectionStatus(connectionId!)).toBe('revoked');
    } finally {
      await h.fakeClient.configure({ revokeDelayMs: 0 });
    }
  });

  it('edge SIGKILLed mid-saga: after restart the saga completes exactly once (one audit entry, one event)', async () => {
    const { connectionId } = await connectOAuth(h, h.admin, 'xero', 'app');
    await h.fakeClient.configure({ revokeDelayMs: 1_000 });
    try {
      const { sagaId } = await h.admin.client.disconnect.start.mutate({
        connectionId: connectionId!,
        confirm: true,
        waitMs: 0,
      });
      await waitFor(async () => {
        const s = await h.admin.client.disconnect.status.query({ sagaId });
        return s.steps.find((x) => x.name === 'revoke-tokens')?.status === 'running';
      });
      await h.stack.kill('edge', 'SIGKILL');
      await h.stack.start('edge');
      const done = await waitFor(
        async () => {
          const s = await h.admin.client.disconnect.status.query({ sagaId });
          return s.status === 'completed' ? s : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      expect(done.status).toBe('completed');
    } finally {
      await h.fakeClient.configure({ revokeDelayMs: 0 });
    }
    await waitFor(
      async () => (await auditFor(connectionId!, 'connection.disconnected')).length > 0,
    );
    await expectDisconnectedOnce(h, connectionId!);
  });

  it('a step that keeps failing past the pivot stops the saga, audited and visible; resuming it after the fix completes it once', async () => {
    const { connectionId } = await connectOAuth(h, h.member, 'google', 'user');
    // A bad deploy of the connection service: every revocation of a connection now fails in Postgres.
    const fix = await failUpdatesWhere(h.db, {
      name: 'refuse_revoke',
      table: 'connection.integration_connection',
      when: `new.status = 'revoked'`,
      message: 'column "revoked_reason" does not exist',
    });
    try {
      const { sagaId } = await h.member.client.disconnect.start.mutate({
        connectionId: connectionId!,
        confirm: true,
        waitMs: 0,
      });
      const stopped = await waitFor(
        async () => {
          const s = await h.member.client.disconnect.status.query({ sagaId });
          return s.status === 'failed' ? s : undefined;
        },
        { timeoutMs: 40_000, intervalMs: 250 },
      );
      expect(stopped.needsResume).toBe(true);
      expect(stopped.error).toMatchObject({ step: 'update-statuses', code: 'INTERNAL' });
      expect(stopped.steps.find((x) => x.name === 'destroy-credentials')?.status).toBe('succeeded');
      // Credentials are gone (past the pivot nothing is undone); the connection stays locked, not revoked.
      expect(await connectionStatus(connectionId!)).toBe('disconnecting');
      expect(
        await h.db.query(`select 1 from vault.credential where connection_id = $1 and is_active`, [
          connectionId,
        ]),
      ).toHaveLength(0);
      // The stop is audited with what was done; the disconnect itself is not, yet.
      const stopEntries = await waitFor(async () => {
        const e = await auditFor(connectionId!, 'operation.stopped');
        return e.length === 1 ? e : undefined;
      });
      expect(stopEntries[0]).toMatchObject({
        actorUserId: h.member.id,
        outcome: 'partial',
        provider: 'google',
        details: {
          operation: 'disconnect',
          stoppedAtStep: 'update-statuses',
          error: 'INTERNAL',
          credentialsDeleted: 2,
          statusesUpdated: false,
          timesResumed: 0,
        },
      });
      expect(await auditFor(connectionId!, 'connection.disconnected')).toHaveLength(0);
      // Operators are told by the edge's gauge, read from the saga log at each scrape.
      expect(await stoppedGauge()).toBe(1);
      // And the dashboard's count: the org's for an admin, the member's own, nothing of it for another org.
      expect((await h.admin.client.operations.summary.query()).stopped).toBe(1);
      expect((await h.member.client.operations.summary.query()).stopped).toBe(1);
      expect(await h.otherAdmin.client.operations.summary.query()).toEqual({ open: 0, stopped: 0 });
      // The member's card says so, with the saga to resume.
      const google = (await h.member.client.integrations.list.query()).find(
        (i) => i.provider.key === 'google',
      );
      expect(google?.myConnection?.operation).toMatchObject({
        sagaId,
        type: 'disconnect',
        status: 'failed',
        needsResume: true,
        error: { step: 'update-statuses', code: 'INTERNAL' },
      });
      // Operators find it among the org's stopped operations; a member only among their own.
      const adminStopped = await h.admin.client.operations.list.query({ status: 'stopped' });
      expect(adminStopped.items.map((o) => o.id)).toContain(sagaId);
      expect(adminStopped.items.find((o) => o.id === sagaId)).toMatchObject({
        type: 'disconnect',
        vendor: 'google',
        connectionId,
        ownerUserId: h.member.id,
        actorUserId: h.member.id,
        needsResume: true,
      });
      expect(
        (await h.viewer.client.operations.list.query({ status: 'stopped' })).items.map((o) => o.id),
      ).toContain(sagaId);
      expect(
        (await h.otherAdmin.client.operations.list.query({})).items.map((o) => o.id),
      ).not.toContain(sagaId);
      // Who may resume: its actor or settings.edit; another org's user does not see it; bad input changes nothing.
      expect((await trpcErrorOf(h.viewer.client.operations.resume.mutate({ sagaId }))).code).toBe(
        'FORBIDDEN',
      );
      expect(
        (await trpcErrorOf(h.otherAdmin.client.operations.resume.mutate({ sagaId }))).code,
      ).toBe('NOT_FOUND');
      expect(
        (await trpcErrorOf(h.admin.client.operations.resume.mutate({ sagaId: 'nope' } as never)))
          .code,
      ).toBe('BAD_REQUEST');
      expect(
        (await trpcErrorOf(h.admin.client.operations.list.query({ cursor: 'garbage' }))).code,
      ).toBe('BAD_REQUEST');
      expect((await h.member.client.disconnect.status.query({ sagaId })).status).toBe('failed');

      await fix();
      // Disconnecting again resumes the stopped saga rather than starting another.
      const again = await h.member.client.disconnect.start.mutate({
        connectionId: connectionId!,
        confirm: true,
        waitMs: 20_000,
      });
      expect(again.sagaId).toBe(sagaId);
      expect(again.saga).toMatchObject({
        status: 'completed',
        needsResume: false,
        timesResumed: 1,
      });
      expect(again.saga.result).toMatchObject({ credentialsDeleted: 2, instanceRevoked: true });
      expect(await connectionStatus(connectionId!)).toBe('revoked');
      expect((await trpcErrorOf(h.admin.client.operations.resume.mutate({ sagaId }))).code).toBe(
        'CONFLICT',
      );
    } finally {
      await fix();
    }
    await waitFor(
      async () => (await auditFor(connectionId!, 'connection.disconnected')).length === 1,
    );
    const resumed = await auditFor(connectionId!, 'operation.resumed');
    expect(resumed).toHaveLength(1);
    expect(resumed[0]).toMatchObject({
      actorUserId: h.member.id,
      details: { operation: 'disconnect', fromStep: 'update-statuses', timesResumed: 1 },
    });
    await expectDisconnectedOnce(h, connectionId!);
    expect(await stoppedGauge()).toBe(0);
    expect((await h.member.client.operations.summary.query()).stopped).toBe(0);
    // Nothing left to show on the card; the operation lists as completed.
    const google = (await h.member.client.integrations.list.query()).find(
      (i) => i.provider.key === 'google',
    );
    expect(google?.myConnection).toBeNull();
    const completed = await h.member.client.operations.list.query({
      status: 'completed',
      type: 'disconnect',
    });
    expect(completed.items.find((o) => o.id === sagaIdOf(completed, connectionId!))).toMatchObject({
      timesResumed: 1,
      error: null,
    });
  });

  it('a stopped saga resumes on its own once its wait is over, and completes when the cause is gone', async () => {
    const { connectionId } = await connectOAuth(h, h.admin, 'salesforce', 'app');
    const fix = await failUpdatesWhere(h.db, {
      name: 'refuse_revoke_auto',
      table: 'connection.integration_connection',
      when: `new.status = 'revoked'`,
      message: 'column "revoked_reason" does not exist',
    });
    let sagaId: string;
    try {
      ({ sagaId } = await h.admin.client.disconnect.start.mutate({
        connectionId: connectionId!,
        confirm: true,
        waitMs: 0,
      }));
      await waitFor(
        async () => (await h.admin.client.disconnect.status.query({ sagaId })).status === 'failed',
        { timeoutMs: 40_000, intervalMs: 250 },
      );
    } finally {
      // Rolled back before anyone looked: nobody resumes it by hand.
      await fix();
    }
    const done = await waitFor(
      async () => {
        const s = await h.admin.client.disconnect.status.query({ sagaId });
        return s.status === 'completed' ? s : undefined;
      },
      { timeoutMs: 40_000, intervalMs: 500 },
    );
    expect(done).toMatchObject({ timesResumed: 1, needsResume: false });
    expect(await connectionStatus(connectionId!)).toBe('revoked');
    const resumed = await waitFor(async () => {
      const e = await auditFor(connectionId!, 'operation.resumed');
      return e.length === 1 ? e : undefined;
    });
    expect(resumed[0]).toMatchObject({
      actorUserId: null,
      details: { operation: 'disconnect', automatic: true, timesResumed: 1 },
    });
    await waitFor(
      async () => (await auditFor(connectionId!, 'connection.disconnected')).length === 1,
    );
    await expectDisconnectedOnce(h, connectionId!);
  });

  it('edge SIGTERM: a disconnect in flight still gets its answer; an open progress stream is closed at once', async () => {
    const { connectionId } = await connectOAuth(h, h.admin, 'xero', 'app');
    await h.fakeClient.configure({ revokeDelayMs: 2_000 });
    try {
      // The user waits for the outcome (in flight across the stop); a second request learns the saga's id.
      const waiting = h.admin.client.disconnect.start
        .mutate({ connectionId: connectionId!, confirm: true, waitMs: 20_000 })
        .then((r) => ({ r, at: Date.now() }));
      // Not in the same tick: the batch link would send both in one HTTP request, answered when both are done.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const { sagaId } = await h.admin.client.disconnect.start.mutate({
        connectionId: connectionId!,
        confirm: true,
        waitMs: 0,
      });
      const sse = await fetch(
        `${h.stack.edgeUrl}/trpc/disconnect.progress?input=${encodeURIComponent(JSON.stringify({ sagaId }))}`,
        { headers: { authorization: `Bearer ${h.admin.token}`, accept: 'text/event-stream' } },
      );
      expect(sse.headers.get('content-type')).toMatch(/^text\/event-stream/);
      let streamed = '';
      const streamEnded = (async () => {
        const reader = sse.body!.getReader();
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            streamed += new TextDecoder().decode(value);
          }
        } catch {
          // Cut by the server: what this test expects.
        }
        return Date.now();
      })();
      await waitFor(async () => {
        const s = await h.admin.client.disconnect.status.query({ sagaId });
        return s.steps.find((x) => x.name === 'revoke-tokens')?.status === 'running';
      });
      const exitCode = await h.stack.kill('edge', 'SIGTERM');
      const [{ r, at }, streamEndedAt] = await Promise.all([waiting, streamEnded]);
      expect(exitCode).toBe(0);
      // The request in flight was answered with the finished saga, not cut.
      expect(r.sagaId).toBe(sagaId);
      expect(r.saga.status).toBe('completed');
      // The stream did not keep the edge waiting: it was closed before the saga (and the answer) ended.
      expect(streamEndedAt).toBeLessThan(at);
      expect(streamed).toContain('revoke-tokens');
      expect(streamed).not.toContain('"status":"completed"');
    } finally {
      await h.fakeClient.configure({ revokeDelayMs: 0 });
      if (!h.stack.running().some((p) => p.service === 'edge')) await h.stack.start('edge');
    }
  });

  it('a sync running during the disconnect stops after its current batch; its records stay', async () => {
    // Ten pages of 200, 300 ms each: the disconnect meets the sync mid-way with seconds to spare (with two pages
    // it had 300 ms, which a busy machine sometimes missed: the sync had finished, nothing was cancelled).
    await h.fakeClient.configure({
      pageDelayMs: 300,
      dataCounts: { contacts: 2_000, invoices: 0, tickets: 0 },
    });
    try {
      const { connectionId } = await connectOAuth(h, h.admin, 'quickbooks', 'app');
      const instanceId = (await h.admin.client.integrations.list.query()).find(
        (i) => i.provider.key === 'quickbooks',
      )!.instance!.id;
      const jobs = await h.db.query<{ id: string; resource: string }>(
        `select id, resource from sync.sync_job where connection_id = $1`,
        [connectionId],
      );
      const contacts = jobs.find((j) => j.resource === 'contacts')!;
      await h.admin.client.sync.runNow.mutate({ jobId: contacts.id });
      await waitFor(
        async () => {
          const [e] = await h.db.query<{ batches: number }>(
            `select batches from sync.sync_execution where job_id = $1 and status = 'running'`,
            [contacts.id],
          );
          return (e?.batches ?? 0) >= 1;
        },
        { timeoutMs: 20_000 },
      );
      const { saga } = await h.admin.client.disconnect.start.mutate({
        connectionId: connectionId!,
        confirm: true,
      });
      expect(saga.status).toBe('completed');
      expect(saga.result).toMatchObject({ executionsCancelled: 1 });
      const [exec] = await h.db.query<{
        status: string;
        completed_at: string | null;
        records_written: number;
      }>(
        `select status, completed_at, records_written from sync.sync_execution where job_id = $1 order by started_at desc limit 1`,
        [contacts.id],
      );
      expect(exec!.status).toBe('cancelled');
      expect(exec!.completed_at).not.toBeNull();
      const count = async () =>
        Number(
          (
            await h.db.query<{ n: string }>(
              `select count(*) as n from sync.synced_record where instance_id = $1`,
              [instanceId],
            )
          )[0]!.n,
        );
      const kept = await count();
      expect(kept).toBeGreaterThan(0);
      // Stopped mid-way: not every record was synced.
      expect(kept).toBeLessThan(2_000);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(await count()).toBe(kept);
      const [refs] = await h.db.query<{ stale: string; synced: string }>(
        `select count(*) filter (where status = 'stale') as stale, count(*) filter (where status = 'synced') as synced
           from sync.external_reference_state where instance_id = $1`,
        [instanceId],
      );
      expect(refs).toEqual({ stale: String(kept), synced: '0' });
    } finally {
      await h.fakeClient.configure({
        pageDelayMs: 0,
        dataCounts: { contacts: 50, invoices: 50, tickets: 50 },
      });
    }
  });
});
