import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { waitFor } from '@otesse/testing';
import { connectOAuth, startHarness, type THarness } from './e2e-harness';

/**
 * A sync runs on the token the vault handed its runner when it started, and after a 401 on whatever token the vault
 * hands out then. Across a change of user that was the new user's token, and the run went on from the previous
 * user's cursor: one run, two accounts. The change of user cancels the connection's running executions before the
 * swap, as a disconnect does (records kept), and the next run starts afresh with the new user's token.
 */
describe('a change of user while a sync runs (whole stack as processes)', () => {
  let h: THarness;
  beforeAll(async () => {
    h = await startHarness({
      envFor: (s) => (s === 'sync-scheduler' ? { SYNC_PAGE_SIZE: '20', SYNC_TICK_MS: '100' } : {}),
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  type TExecution = {
    id: string;
    status: string;
    trigger: string;
    error_reason: string | null;
    completed_at: Date | null;
    batches: number;
    records_written: number;
  };
  const executions = (jobId: string) =>
    h.db.query<TExecution>(
      `select id, status, trigger, error_reason, completed_at, batches, records_written
         from sync.sync_execution where job_id = $1 order by started_at`,
      [jobId],
    );

  it('cancels the running execution at the swap (its records kept); the next run reads afresh as the new user', async () => {
    // 600 contacts, 20 a page, 300 ms a page: a run takes about 9 s.
    h.fake.state.applyConfig({ pageDelayMs: 300, dataCounts: { contacts: 600 } });
    await h.fakeClient.consentAs('u-alice');
    const { connectionId } = await connectOAuth(h, h.admin, 'salesforce', 'app');
    const [job] = await h.db.query<{ id: string }>(
      `select id from sync.sync_job where connection_id = $1`,
      [connectionId],
    );
    // Only the runs this test asks for: the connect's first scheduled run is up to a minute away.
    await h.db.query(
      `update sync.sync_job set next_run_at = now() + interval '1 hour' where id = $1`,
      [job!.id],
    );
    await h.admin.client.sync.runNow.mutate({ jobId: job!.id });
    const running = await waitFor(
      async () => (await executions(job!.id)).find((e) => e.status === 'running' && e.batches >= 2),
      { timeoutMs: 20_000, intervalMs: 50, what: 'a sync with two batches written' },
    );

    const { outcome } = await connectOAuth(h, h.admin, 'salesforce', 'app', {
      action: 'changeUser',
      consentAs: 'u-bob',
    });
    expect(outcome).toBe('user_changed');
    // The swap's transaction wrote bob's credentials.
    const [swap] = await h.db.query<{ at: Date }>(
      `select min(created_at) as at from vault.credential where connection_id = $1 and is_active`,
      [connectionId],
    );

    const ended = await waitFor(
      async () =>
        (await executions(job!.id)).find((e) => e.id === running.id && e.status !== 'running'),
      { timeoutMs: 20_000, intervalMs: 50, what: 'the execution to end' },
    );
    // Before: it went on, and after the old tokens' revocation (401) on bob's token from alice's cursor.
    expect(ended).toMatchObject({ status: 'cancelled', error_reason: 'user_changed' });
    expect(ended.completed_at).not.toBeNull();
    expect(ended.records_written).toBeGreaterThanOrEqual(40);
    expect(ended.records_written).toBeLessThan(600);
    // What it committed stays.
    const [kept] = await h.db.query<{ n: number }>(
      `select count(*)::int as n from sync.synced_record where source_connection_id = $1`,
      [connectionId],
    );
    expect(kept!.n).toBe(ended.records_written);
    // Nothing was read with alice's token after the swap, nor with bob's from where alice's run was.
    const calls = h.fake.state.dataCalls.filter((c) => c.resource === 'contacts');
    expect(
      calls.filter((c) => c.userId === 'u-alice' && Date.parse(c.at) > swap!.at.getTime()),
    ).toEqual([]);
    expect(calls.filter((c) => c.userId === 'u-bob')).toEqual([]);

    // The job is as the user left it: enabled, no longer paused.
    expect(
      await h.db.query(`select is_enabled, paused_by_saga_id from sync.sync_job where id = $1`, [
        job!.id,
      ]),
    ).toEqual([{ is_enabled: true, paused_by_saga_id: null }]);
    const audited = await waitFor(async () => {
      const { entries } = await h.admin.client.audit.list.query({
        filters: { action: 'connection.user_changed' },
      });
      return entries.find((e) => e.targets.connectionId === connectionId);
    });
    expect(audited).toMatchObject({
      outcome: 'success',
      details: { newExternalAccount: 'u-bob', syncExecutionsCancelled: 1, warnings: [] },
    });

    // The next run: bob's token, from the first page, every record.
    h.fake.state.applyConfig({ pageDelayMs: 0 });
    await h.admin.client.sync.runNow.mutate({ jobId: job!.id });
    const next = await waitFor(
      async () =>
        (await executions(job!.id)).find(
          (e) => e.id !== running.id && e.trigger === 'manual' && e.status !== 'running',
        ),
      { timeoutMs: 20_000, intervalMs: 50, what: 'the next run' },
    );
    expect(next).toMatchObject({ status: 'succeeded', records_written: 600 });
    const bobs = h.fake.state.dataCalls.filter(
      (c) => c.resource === 'contacts' && c.userId === 'u-bob',
    );
    expect(bobs.length).toBe(30);
    expect(bobs[0]!.cursor).toBeNull();
    expect(
      h.fake.state.dataCalls.filter(
        (c) => c.userId === 'u-alice' && Date.parse(c.at) > swap!.at.getTime(),
      ),
    ).toEqual([]);
  });

  it('a run asked for while a change of user holds a connection that needed reconnecting runs once the new account is recorded, on its token', async () => {
    h.fake.state.applyConfig({ pageDelayMs: 0, dataCounts: { contacts: 60 } });
    const callsBefore = h.fake.state.dataCalls.length;
    await h.fakeClient.consentAs('u-alice');
    const { connectionId } = await connectOAuth(h, h.admin, 'salesforce', 'user');
    const [job] = await h.db.query<{ id: string }>(
      `select id from sync.sync_job where connection_id = $1`,
      [connectionId],
    );
    await h.db.query(
      `update sync.sync_job set next_run_at = now() + interval '1 hour' where id = $1`,
      [job!.id],
    );
    // The refresh token died: the connection is flagged for a reconnect, and a change of user also clears it.
    await h.db.query(
      `update connection.integration_connection set refresh_token_expired = true where id = $1`,
      [connectionId],
    );

    // Two other sessions stretch the change of user so that its steps can be watched: one holds the job's row
    // (the pause waits for it), the other the connection's row (recording the new account waits for it).
    const jobHolder = new pg.Client({ connectionString: h.db.adminUrl });
    const connectionHolder = new pg.Client({ connectionString: h.db.adminUrl });
    await Promise.all([jobHolder.connect(), connectionHolder.connect()]);
    let changing: ReturnType<typeof connectOAuth> | undefined;
    try {
      await jobHolder.query('begin');
      await jobHolder.query(`select id from sync.sync_job where id = $1 for update`, [job!.id]);
      changing = connectOAuth(h, h.admin, 'salesforce', 'user', {
        action: 'changeUser',
        consentAs: 'u-bob',
      });
      // Awaited below; a failure before that must not leave it unhandled.
      changing.catch(() => undefined);
      const [saga] = await waitFor(
        async () => {
          const rows = await h.db.query<{ id: string }>(
            `select s.id from edge.saga s join connection.integration_connection c on c.lock_saga_id = s.id
              where c.id = $1`,
            [connectionId],
          );
          return rows.length > 0 ? rows : undefined;
        },
        { timeoutMs: 10_000, intervalMs: 25, what: 'the change of user to lock the connection' },
      );
      await connectionHolder.query('begin');
      await connectionHolder.query(
        `select id from connection.integration_connection where id = $1 for update`,
        [connectionId],
      );
      await jobHolder.query('commit');
      await waitFor(
        async () =>
          (
            await h.db.query(
              `select 1 from sync.sync_job where id = $1 and paused_by_saga_id = $2`,
              [job!.id, saga!.id],
            )
          ).length === 1,
        { timeoutMs: 5_000, intervalMs: 25, what: 'the pause' },
      );
      // The user asks for a run while the change is under way: it waits for the pause.
      await h.admin.client.sync.runNow.mutate({ jobId: job!.id });
      // Swapped, and recording the new account (which clears the flag) waits for the connection's row.
      await waitFor(
        async () =>
          (
            await h.db.query(
              `select 1 from edge.saga_step where saga_id = $1 and name = 'record-account' and status = 'running'`,
              [saga!.id],
            )
          ).length === 1,
        { timeoutMs: 5_000, intervalMs: 25, what: 'the swap, then record-account' },
      );
      await new Promise((r) => setTimeout(r, 1_000));
      // Before the fix the pause was lifted before record-account: the run was claimed at once, found the flag
      // still set and was recorded skipped (refresh_token_expired), the user's request used up.
      expect(await executions(job!.id)).toEqual([]);
    } finally {
      await jobHolder.query('rollback').catch(() => undefined);
      await connectionHolder.query('commit').catch(() => undefined);
      await Promise.all([jobHolder.end(), connectionHolder.end()]);
    }
    expect((await changing)?.outcome).toBe('user_changed');
    const ran = await waitFor(
      async () => {
        const all = await executions(job!.id);
        return all.length > 0 && all.every((e) => e.status !== 'running') ? all : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 50, what: 'the requested run' },
    );
    expect(ran).toMatchObject([
      { trigger: 'manual', status: 'succeeded', error_reason: null, records_written: 60 },
    ]);
    // Read on bob's token, from the first page.
    const bobs = h.fake.state.dataCalls
      .slice(callsBefore)
      .filter((c) => c.resource === 'contacts' && c.userId === 'u-bob' && c.status === 200);
    expect(bobs.length).toBe(3);
    expect(bobs[0]!.cursor).toBeNull();
    expect(
      await h.db.query(
        `select c.refresh_token_expired, c.external_account_id, j.paused_by_saga_id
           from connection.integration_connection c join sync.sync_job j on j.connection_id = c.id
          where c.id = $1`,
        [connectionId],
      ),
    ).toEqual([
      { refresh_token_expired: false, external_account_id: 'u-bob', paused_by_saga_id: null },
    ]);
  });

  it('a second reconnect while the first one is still open is refused (busy), its new tokens revoked at the provider; the first completes', async () => {
    await h.fakeClient.consentAs('u-carol');
    const { connectionId } = await connectOAuth(h, h.member, 'slack', 'user');
    await h.db.query(
      `update connection.integration_connection set refresh_token_expired = true where id = $1`,
      [connectionId],
    );
    // Another session holds the connection's row: the first reconnect's lock waits for it, its saga stays open.
    const holder = new pg.Client({ connectionString: h.db.adminUrl });
    await holder.connect();
    let first: ReturnType<typeof connectOAuth> | undefined;
    let issuedBySecond: string[] = [];
    try {
      await holder.query('begin');
      await holder.query(
        `select id from connection.integration_connection where id = $1 for update`,
        [connectionId],
      );
      first = connectOAuth(h, h.member, 'slack', 'user', { action: 'reconnect' });
      first.catch(() => undefined);
      await waitFor(
        async () =>
          (
            await h.db.query(
              `select 1 from edge.saga where subject_key = $1 and status = 'running'`,
              [connectionId],
            )
          ).length === 1,
        { timeoutMs: 10_000, intervalMs: 25, what: 'the first reconnect to start' },
      );
      const before = new Set(h.fake.state.tokens.keys());
      const second = await connectOAuth(h, h.member, 'slack', 'user', { action: 'reconnect' });
      issuedBySecond = [...h.fake.state.tokens.keys()].filter((t) => !before.has(t));
      // Before the fix: "still finishing" (the first reconnect's state), and the new tokens were left live at the
      // provider, held by nothing.
      expect(second.outcome).toBe('refused:busy');
      expect(issuedBySecond.length).toBeGreaterThan(0);
    } finally {
      await holder.query('commit').catch(() => undefined);
      await holder.end();
    }
    expect((await first)?.outcome).toBe('reconnected');
    await waitFor(
      () =>
        issuedBySecond.every((t) => h.fake.state.tokens.get(t)?.revokedAt !== undefined) ||
        undefined,
      { timeoutMs: 10_000, intervalMs: 50, what: "the second authorization's tokens revoked" },
    );
    // Only the first reconnect's tokens are the connection's: one saga, one account.
    const sagas = await h.db.query<{ status: string }>(
      `select status from edge.saga where subject_key = $1 and type <> 'disconnect'`,
      [connectionId],
    );
    expect(sagas).toEqual([{ status: 'completed' }]);
    const [row] = await h.db.query(
      `select status, refresh_token_expired from connection.integration_connection where id = $1`,
      [connectionId],
    );
    expect(row).toEqual({ status: 'connected', refresh_token_expired: false });
  });
});
