import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startDatabaseProxy,
  TestBrowser,
  waitFor,
  type TStackService,
  type TTcpProxy,
} from '@otesse/testing';
import {
  connectOAuth,
  DASHBOARD_URL,
  startHarness,
  trpcErrorOf,
  type THarness,
} from './e2e-harness';
import {
  expectDisconnectedOnce,
  sagaOf as sagaIn,
  sagaStepOf,
  untilSagaStatus,
} from './disconnect-helpers';

/**
 * Postgres going away under a running stack (a restart, a failover, a network path cut) while disconnects run:
 * nothing may be half-done or given up on, nothing is retried as the services' own failure, and no process
 * restarts. Each service below reaches Postgres through its own TCP proxy, which the test cuts and restores; the
 * real server stays up for everyone else.
 */
const OAUTH_WAIT_MS = 3_000;

describe('database outages during a disconnect (services as processes)', () => {
  let h: THarness;
  const proxies = new Map<TStackService, TTcpProxy>();
  const proxy = (s: TStackService): TTcpProxy => proxies.get(s)!;

  beforeAll(async () => {
    for (const s of ['credential-vault', 'connection', 'edge'] as const)
      proxies.set(s, await startDatabaseProxy());
    h = await startHarness({
      rewriteDatabaseUrl: (s, url) => proxies.get(s)?.via(url) ?? url,
      // An OAuth leg waits this long for the edge's database before its 503 page (default 10 s).
      envFor: (s) => (s === 'edge' ? { EDGE_OAUTH_DATABASE_WAIT_MS: String(OAUTH_WAIT_MS) } : {}),
    });
  });
  afterAll(async () => {
    await h?.close();
    for (const p of proxies.values()) await p.close();
  });

  /** Cuts a service's path to its database now; the promise resolves once it is restored, `ms` later. */
  const outage = (s: TStackService, ms: number): Promise<void> => {
    proxy(s).cut();
    return new Promise((resolve) =>
      setTimeout(() => {
        proxy(s).restore();
        resolve();
      }, ms),
    );
  };
  const sagaOf = (sagaId: string) => sagaIn(h, sagaId);
  const untilStatus = (sagaId: string, status: string) => untilSagaStatus(h, sagaId, status);
  const stepOf = (sagaId: string, name: string) => sagaStepOf(h, sagaId, name);
  const connectionStatus = async (id: string) =>
    (
      await h.db.query<{ status: string }>(
        `select status from connection.integration_connection where id = $1`,
        [id],
      )
    )[0]?.status;
  const readiness = async (s: TStackService) => {
    const res = await fetch(h.stack.processes.get(s)!.healthUrl);
    return {
      status: res.status,
      body: (await res.json()) as { ok: boolean; checks?: Record<string, boolean> },
    };
  };
  /** `otesse_database_unavailable_total` of a process (0 when absent). */
  const unavailableCount = async (metricsUrl: string) => {
    const text = await (await fetch(metricsUrl)).text();
    const line = text.split('\n').find((l) => l.startsWith('otesse_database_unavailable_total '));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };
  /** `disconnect.progress` over SSE, as the dashboard reads it: what it streamed so far, and all of it once it ends. */
  const openProgress = async (sagaId: string, token: string) => {
    const res = await fetch(
      `${h.stack.edgeUrl}/trpc/disconnect.progress?input=${encodeURIComponent(JSON.stringify({ sagaId }))}`,
      { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } },
    );
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    let text = '';
    const ended = (async () => {
      const reader = res.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return text;
        text += new TextDecoder().decode(value);
      }
    })();
    return { streamed: () => text, ended };
  };
  /** The tokens the fake provider issued while `fn` ran. */
  const issuedDuring = async (fn: () => Promise<string | undefined>) => {
    const before = new Set((await h.fakeClient.listTokens()).map((t) => t.token));
    const connectionId = await fn();
    const tokens = (await h.fakeClient.listTokens()).filter((t) => !before.has(t.token));
    return { connectionId: connectionId!, tokens };
  };

  it("the vault's database out of reach at the pivot: the vault answers retryable, the saga waits for it and completes once", async () => {
    const { connectionId, tokens } = await issuedDuring(
      async () => (await connectOAuth(h, h.admin, 'hubspot', 'app')).connectionId,
    );
    expect(tokens.map((t) => t.type).sort()).toEqual(['access', 'refresh']);
    const vaultPid = h.stack.processes.get('credential-vault')!.child.proc.pid;
    // The provider answers the revocation calls slowly: the database goes away while they are out.
    await h.fakeClient.configure({ revokeDelayMs: 1_500 });
    let restored = false;
    try {
      const { sagaId } = await h.admin.client.disconnect.start.mutate({
        connectionId,
        confirm: true,
        waitMs: 0,
      });
      await waitFor(async () => (await stepOf(sagaId, 'revoke-tokens'))?.status === 'running');
      proxy('credential-vault').cut();
      // The calls were made; storing their report is what fails, and the vault says so as a retryable error.
      // Read between a failed attempt and the next (whose start clears the error), after at least one retry.
      const waiting = await waitFor(
        async () => {
          const step = await stepOf(sagaId, 'revoke-tokens');
          return step && step.attempts >= 2 && step.error ? step : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 50 },
      );
      expect(waiting.error).toMatchObject({ code: 'UNAVAILABLE', reason: 'database_unavailable' });
      // Past the pivot nothing is undone: the saga waits, and the connection stays locked meanwhile.
      expect((await sagaOf(sagaId)).status).toBe('running');
      expect(await connectionStatus(connectionId)).toBe('disconnecting');
      const ready = await readiness('credential-vault');
      expect(ready.status).toBe(503);
      expect(ready.body.checks).toMatchObject({ postgres: false, nats: true });

      await h.fakeClient.configure({ revokeDelayMs: 0 });
      proxy('credential-vault').restore();
      restored = true;
      const done = await untilStatus(sagaId, 'completed');
      expect(done.result).toMatchObject({ credentialsDeleted: 2, revocationSucceeded: true });
    } finally {
      if (!restored) proxy('credential-vault').restore();
      await h.fakeClient.configure({ revokeDelayMs: 0 });
    }
    expect(await connectionStatus(connectionId)).toBe('revoked');
    for (const t of tokens)
      expect((await h.fakeClient.tokenStatus(t.token)).status).toBe('revoked');
    // Called once per token: the retry stored the report the vault already had instead of calling again.
    const calls = (await h.fakeClient.getState()).revocations.filter((r) =>
      tokens.some((t) => t.token === r.token),
    );
    expect(calls.map((c) => c.tokenTypeHint).sort()).toEqual(['access_token', 'refresh_token']);
    const creds = await h.db.query<{ ciphertext: string; is_deleted: boolean }>(
      `select ciphertext, is_deleted from vault.credential where connection_id = $1`,
      [connectionId],
    );
    expect(creds).toEqual([
      { ciphertext: '', is_deleted: true },
      { ciphertext: '', is_deleted: true },
    ]);
    await expectDisconnectedOnce(h, connectionId);
    // The same vault process rode it out: its requests were refused as retryable, not as its own failure.
    const vault = h.stack.processes.get('credential-vault')!;
    expect(vault.child.proc.pid).toBe(vaultPid);
    expect(vault.child.output()).toMatch(/database unavailable/);
    expect(vault.child.output()).not.toMatch(/"msg":"handler failed"/);
    // Counted for the operator's alert.
    expect(
      await unavailableCount(vault.healthUrl.replace(/\/readyz$/, '/metrics')),
    ).toBeGreaterThan(0);
    expect((await readiness('credential-vault')).status).toBe(200);
  });

  it("the edge's own database out of reach mid-saga: calls are refused as retryable, and the saga goes on from its log once it is back", async () => {
    const { connectionId } = await issuedDuring(
      async () => (await connectOAuth(h, h.member, 'google', 'user')).connectionId,
    );
    const edgePid = h.stack.processes.get('edge')!.child.proc.pid;
    const { url: startUrl } = await h.member.client.integrations.oauthUrl.query({
      vendor: 'slack',
      flow: 'user',
    });
    await h.fakeClient.configure({ revokeDelayMs: 1_500 });
    let restored = false;
    try {
      const { sagaId } = await h.member.client.disconnect.start.mutate({
        connectionId,
        confirm: true,
        waitMs: 0,
      });
      await waitFor(async () => (await stepOf(sagaId, 'revoke-tokens'))?.status === 'running');
      // The dialog's live progress (SSE), open across the outage.
      const progress = await openProgress(sagaId, h.member.token);
      await waitFor(() => progress.streamed().includes('"name":"revoke-tokens"'));
      proxy('edge').cut();
      // Every call needs the token check: refused as the database being away, which a client retries.
      const err = await trpcErrorOf(h.member.client.integrations.list.query());
      expect(err.code).toBe('SERVICE_UNAVAILABLE');
      expect(err.data).toMatchObject({ appCode: 'UNAVAILABLE', reason: 'database_unavailable' });
      expect(err.message).not.toMatch(/5432|postgres|ECONN/i);
      // A browser in an OAuth flow waits for it, then gets a page that says so (not JSON, not the driver's words),
      // at either leg.
      const waited = Date.now();
      await Promise.all(
        [startUrl, `${h.stack.edgeUrl}/connect/slack/callback?state=s&code=c`].map(async (url) => {
          const page = await fetch(url, { redirect: 'manual' });
          expect(page.status, url).toBe(503);
          expect(page.headers.get('content-type')).toMatch(/^text\/html/);
          const html = await page.text();
          expect(html).toContain('data-reason="unavailable"');
          expect(html).not.toMatch(/5432|postgres|ECONN|terminated/i);
        }),
      );
      expect(Date.now() - waited).toBeGreaterThanOrEqual(OAUTH_WAIT_MS - 1_000);
      // The public probe says only not ready (its checks stay on the internal operations port).
      expect(await readiness('edge')).toEqual({ status: 503, body: { ok: false } });
      // The revocation answers while the saga's log is out of reach: its outcome cannot be recorded yet.
      await h.stack.processes
        .get('edge')!
        .child.waitForOutput(/driving the saga again shortly/, 10_000);
      await h.fakeClient.configure({ revokeDelayMs: 0 });
      proxy('edge').restore();
      restored = true;
      const done = await untilStatus(sagaId, 'completed');
      expect(done.result).toMatchObject({ credentialsDeleted: 2 });
      // The stream paused while the log was away and went on to the end.
      const streamed = await progress.ended;
      expect(streamed).toContain('"name":"revoke-tokens"');
      expect(streamed).toContain('"status":"completed"');
      expect(streamed).not.toMatch(/"error":\{"(json|message)"/);
    } finally {
      if (!restored) proxy('edge').restore();
      await h.fakeClient.configure({ revokeDelayMs: 0 });
    }
    expect(await connectionStatus(connectionId)).toBe('revoked');
    await expectDisconnectedOnce(h, connectionId);
    const edge = h.stack.processes.get('edge')!;
    expect(edge.child.proc.pid).toBe(edgePid);
    expect(edge.child.output()).not.toMatch(/saga driver crashed/);
    expect(await unavailableCount(`${h.stack.edgeUrl}/metrics`)).toBeGreaterThan(0);
    expect((await readiness('edge')).status).toBe(200);
  });

  it("the edge's own database out of reach when the browser comes back from the provider: the callback waits for it and connects", async () => {
    const { url } = await h.member.client.integrations.oauthUrl.query({
      vendor: 'slack',
      flow: 'user',
    });
    const browser = new TestBrowser();
    // Through the edge's start and the provider's consent, up to the redirect back to the edge's callback.
    const { stoppedAt: callbackUrl } = await browser.follow(url, {
      stopAt: `${h.stack.edgeUrl}/connect/slack/callback`,
    });
    expect(callbackUrl).toBeDefined();
    // The database goes away as the browser arrives, and comes back a second and a half later (a failover).
    const back = outage('edge', 1_500);
    try {
      const { stoppedAt } = await browser.follow(callbackUrl!, { stopAt: DASHBOARD_URL });
      // Before, a 503 page: the provider's code was lost and the user had to start again.
      expect(new URL(stoppedAt ?? 'http://x/').searchParams.get('oauth')).toBe('connected');
    } finally {
      await back;
    }
    const mine = (await h.member.client.integrations.list.query()).find(
      (i) => i.provider.key === 'slack',
    )?.myConnection;
    expect(mine).toMatchObject({ status: 'connected' });
    expect(h.stack.processes.get('edge')!.child.output()).toMatch(
      /oauth route waiting for the database/,
    );
  });

  it("the connection service's database out of reach at the start: nothing is changed, the caller is told to try again, and the next try disconnects", async () => {
    const { connectionId } = await issuedDuring(
      async () => (await connectOAuth(h, h.viewer, 'google', 'user')).connectionId,
    );
    let restored = false;
    try {
      proxy('connection').cut();
      const { sagaId } = await h.viewer.client.disconnect.start.mutate({
        connectionId,
        confirm: true,
        waitMs: 0,
      });
      // Tried again for the saga's 10 s budget for a service away, then undone; the undoing waits for the database if it must.
      await waitFor(
        async () => ['compensating', 'compensated'].includes((await sagaOf(sagaId)).status),
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      proxy('connection').restore();
      restored = true;
      const undone = await untilStatus(sagaId, 'compensated');
      expect(undone.error).toMatchObject({
        step: 'lock',
        code: 'UNAVAILABLE',
        reason: 'database_unavailable',
      });
      // Past its 3 attempts: a service away is retried for SAGA_UNAVAILABLE_RETRY_MS (10 s) first.
      expect(undone.steps.find((s) => s.name === 'lock')?.attempts).toBeGreaterThan(3);
      expect(undone.steps.find((s) => s.name === 'disable-sync-jobs')?.status).toBe('pending');
    } finally {
      if (!restored) proxy('connection').restore();
    }
    expect(await connectionStatus(connectionId)).toBe('connected');
    const active = await h.db.query(
      `select 1 from vault.credential where connection_id = $1 and is_active`,
      [connectionId],
    );
    expect(active).toHaveLength(2);
    const jobs = await h.db.query<{ is_enabled: boolean }>(
      `select is_enabled from sync.sync_job where connection_id = $1`,
      [connectionId],
    );
    expect(jobs.length).toBeGreaterThan(0);
    expect(jobs.every((j) => j.is_enabled)).toBe(true);
    await waitFor(
      async () =>
        (
          await h.admin.client.audit.list.query({
            filters: { action: 'connection.disconnect_failed' },
            limit: 200,
          })
        ).entries.some((e) => e.targets.connectionId === connectionId),
      { timeoutMs: 15_000 },
    );
    const { saga } = await h.viewer.client.disconnect.start.mutate({ connectionId, confirm: true });
    expect(saga.status).toBe('completed');
    expect(await connectionStatus(connectionId)).toBe('revoked');
  });
  it("the vault's database out of reach during a change of user: the swap waits for it, and the user sees the change done", async () => {
    await h.fakeClient.consentAs('u-alice');
    const { connectionId } = await connectOAuth(h, h.admin, 'salesforce', 'app');
    const before = await unavailableCount(
      h.stack.processes.get('credential-vault')!.healthUrl.replace(/\/readyz$/, '/metrics'),
    );
    // Two seconds of outage while the browser is at the callback: the swap (the pivot) is tried again meanwhile.
    const back = outage('credential-vault', 2_000);
    try {
      const { outcome } = await connectOAuth(h, h.admin, 'salesforce', 'app', {
        action: 'changeUser',
        consentAs: 'u-bob',
      });
      expect(outcome).toBe('user_changed');
    } finally {
      await back;
    }
    const conn = (await h.admin.client.integrations.list.query()).find(
      (i) => i.provider.key === 'salesforce',
    )?.appConnection;
    expect(conn).toMatchObject({ id: connectionId, externalAccountId: 'u-bob', operation: null });
    const changed = await waitFor(async () => {
      const { entries } = await h.admin.client.audit.list.query({
        filters: { action: 'connection.user_changed' },
      });
      const mine = entries.filter((e) => e.targets.connectionId === connectionId);
      return mine.length ? mine : undefined;
    });
    expect(changed).toHaveLength(1);
    // The vault did meet the outage (and answered retryable), the user never saw it.
    expect(
      await unavailableCount(
        h.stack.processes.get('credential-vault')!.healthUrl.replace(/\/readyz$/, '/metrics'),
      ),
    ).toBeGreaterThan(before);
  });
});
