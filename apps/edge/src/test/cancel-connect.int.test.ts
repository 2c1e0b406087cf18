import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bus } from '@otesse/messaging';
import { waitFor } from '@otesse/testing';
import { connectOAuth, startHarness, trpcErrorOf, type THarness } from './e2e-harness';

/**
 * A connect whose edge dies after the vault stored its tokens but before the activation leaves a `pending`
 * connection that holds its slot for two minutes (the connection service's bound). Cancel connect frees it at once:
 * the connection ends `error`, the vault revokes and destroys what it stored, the audit names who cancelled.
 */
describe('cancelling an unfinished connect (whole stack as processes)', () => {
  let h: THarness;
  beforeAll(async () => {
    h = await startHarness({
      envFor: (s) => (s === 'sync-scheduler' ? { SYNC_ENGINE: 'false' } : {}),
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  const salesforceTokensOf = async (userId: string) =>
    (await h.fakeClient.listTokens({ userId })).filter((t) => t.clientId.endsWith('salesforce'));
  const connectionRow = async (id: string) =>
    (
      await h.db.query<{ status: string; error_reason: string | null }>(
        `select status, error_reason from connection.integration_connection where id = $1`,
        [id],
      )
    )[0];

  /**
   * Starts `vendor`'s organization connect as the admin's browser and catches it in the vault's store of its tokens
   * (a trigger holds each insert 1 s): `during` runs once the connection is pending and the store under way. The
   * browser's promise is handed over, not awaited.
   */
  const duringStore = async <T>(
    vendor: string,
    during: (pendingId: string, browser: Promise<unknown>) => Promise<T>,
  ): Promise<T & { pendingId: string }> => {
    await h.db.query(`create function public.slow_store() returns trigger language plpgsql as $$
        begin perform pg_sleep(1); return new; end $$`);
    await h.db.query(
      `create trigger slow_store before insert on vault.credential
         for each row when (new.staged_until is null) execute function public.slow_store()`,
    );
    try {
      const browser = connectOAuth(h, h.admin, vendor, 'app');
      browser.catch(() => undefined);
      const pendingId = await waitFor(
        async () =>
          (
            await h.db.query<{ id: string }>(
              `select id from connection.integration_connection
                where org_id = $1 and vendor = $2 and status = 'pending'`,
              [h.orgId, vendor],
            )
          )[0]?.id,
        { timeoutMs: 15_000, intervalMs: 50, what: 'the pending connection' },
      );
      await waitFor(
        async () =>
          (
            await h.db.query<{ n: string }>(
              `select count(*) as n from pg_stat_activity
                where datname = current_database() and wait_event = 'PgSleep'`,
            )
          )[0]!.n !== '0'
            ? true
            : undefined,
        { timeoutMs: 15_000, intervalMs: 20, what: "the vault's store held" },
      );
      return { ...(await during(pendingId, browser)), pendingId };
    } finally {
      await h.db.query(`drop trigger slow_store on vault.credential`);
      await h.db.query(`drop function public.slow_store()`);
    }
  };

  it('frees the slot of a connect its edge never finished: tokens revoked and destroyed, the canceller audited, connecting again works', async () => {
    await h.fakeClient.consentAs('u-alice');
    const before = new Set((await salesforceTokensOf('u-alice')).map((t) => t.token));
    // The edge is killed once the vault's store of the connect's tokens is under way, before the activation. The
    // store commits without it.
    const { pendingId } = await duringStore('salesforce', async (_id, browser) => {
      await h.stack.kill('edge', 'SIGKILL');
      await browser.catch(() => undefined);
      return {};
    });
    await h.stack.start('edge');
    const stored = await waitFor(async () => {
      const rows = await h.db.query<{ kind: string }>(
        `select kind from vault.credential where connection_id = $1 and not is_deleted order by kind`,
        [pendingId],
      );
      return rows.length === 2 ? rows.map((r) => r.kind) : undefined;
    });
    expect(stored).toEqual(['access_token', 'refresh_token']);
    expect(await connectionRow(pendingId)).toEqual({ status: 'pending', error_reason: null });

    // The slot is held: a new connect is refused, and the dashboard shows the connection as pending.
    expect((await connectOAuth(h, h.admin, 'salesforce', 'app')).outcome).toMatch(
      /connect_in_progress$/,
    );
    const listed = (await h.admin.client.integrations.list.query()).find(
      (i) => i.provider.key === 'salesforce',
    );
    expect(listed?.appConnection).toMatchObject({ id: pendingId, status: 'pending' });
    // When its connect began: how long it has been unfinished.
    expect(Date.now() - Date.parse(listed!.appConnection!.startedAt)).toBeLessThan(60_000);

    // Who may cancel it: the organization's connect needs settings.edit; another org's is not found.
    for (const who of [h.member, h.viewer]) {
      expect(
        await trpcErrorOf(
          who.client.integrations.cancelConnect.mutate({ connectionId: pendingId }),
        ),
      ).toMatchObject({ code: 'FORBIDDEN' });
    }
    expect(
      await trpcErrorOf(
        h.otherAdmin.client.integrations.cancelConnect.mutate({ connectionId: pendingId }),
      ),
    ).toMatchObject({ code: 'NOT_FOUND' });
    const bad = await trpcErrorOf(
      h.admin.client.integrations.cancelConnect.mutate({ connectionId: 'not-an-id' }),
    );
    expect(bad.code).toBe('BAD_REQUEST');
    expect(JSON.stringify(bad.data)).toContain('connectionId');
    expect(await connectionRow(pendingId)).toEqual({ status: 'pending', error_reason: null });

    const issued = (await salesforceTokensOf('u-alice')).filter((t) => !before.has(t.token));
    const { connection } = await h.admin.client.integrations.cancelConnect.mutate({
      connectionId: pendingId,
    });
    expect(connection).toMatchObject({ id: pendingId, status: 'error' });
    expect(await connectionRow(pendingId)).toEqual({
      status: 'error',
      error_reason: 'connect_cancelled',
    });
    // Counted for the operator apart from the connects the sweep gave up.
    const metrics = await (
      await fetch(h.stack.processes.get('connection')!.healthUrl.replace(/\/readyz$/, '/metrics'))
    ).text();
    expect(metrics).toMatch(/^otesse_connects_abandoned_total\{how="cancelled"\} 1$/m);

    // The vault, on the abandoned event: every token the connect got is revoked at the provider, then destroyed.
    await waitFor(
      async () => {
        const now = await salesforceTokensOf('u-alice');
        return issued.length > 0 &&
          issued.every((t) => now.find((n) => n.token === t.token)?.status === 'revoked')
          ? true
          : undefined;
      },
      { timeoutMs: 20_000, what: "the cancelled connect's tokens revoked" },
    );
    await waitFor(async () => {
      const rows = await h.db.query<{ ciphertext: string; is_deleted: boolean }>(
        `select ciphertext, is_deleted from vault.credential where connection_id = $1`,
        [pendingId],
      );
      return rows.length === 2 && rows.every((r) => r.ciphertext === '' && r.is_deleted)
        ? true
        : undefined;
    });
    const entry = await waitFor(async () =>
      (
        await h.admin.client.audit.list.query({
          filters: { action: 'connection.connect_failed', provider: 'salesforce' },
        })
      ).entries.find((e) => e.details['reason'] === 'connect_cancelled'),
    );
    expect(entry).toMatchObject({
      actorUserId: h.admin.id,
      outcome: 'failure',
      targets: { connectionId: pendingId },
      details: { level: 'app' },
    });

    // Nothing left to cancel; the slot is free: connecting again works at once, and that one is not cancellable.
    expect(
      await trpcErrorOf(
        h.admin.client.integrations.cancelConnect.mutate({ connectionId: pendingId }),
      ),
    ).toMatchObject({ code: 'CONFLICT', data: { reason: 'not_pending' } });
    const again = await connectOAuth(h, h.admin, 'salesforce', 'app');
    expect(again.outcome).toBe('connected');
    const refused = await trpcErrorOf(
      h.admin.client.integrations.cancelConnect.mutate({ connectionId: again.connectionId! }),
    );
    expect(refused).toMatchObject({ code: 'CONFLICT', data: { reason: 'not_pending' } });
    expect(refused.message).toContain('it is connected');
    expect(await connectionRow(again.connectionId!)).toMatchObject({ status: 'connected' });
  });

  it('a connect still finishing when cancelled fails cleanly: its browser is told, its tokens revoked, the slot free', async () => {
    await h.fakeClient.consentAs('u-alice');
    const xeroTokens = async () =>
      (await h.fakeClient.listTokens({ userId: 'u-alice' })).filter((t) =>
        t.clientId.endsWith('xero'),
      );
    const before = new Set((await xeroTokens()).map((t) => t.token));
    // The connect is caught in the vault's store of its tokens, with its edge alive and waiting for it.
    const { pendingId, outcome } = await duringStore('xero', async (id, browser) => {
      const { connection } = await h.admin.client.integrations.cancelConnect.mutate({
        connectionId: id,
      });
      expect(connection.status).toBe('error');
      return { outcome: ((await browser) as { outcome: string }).outcome };
    });
    // The store landed before the vault closed the connection (its credentials destroyed with it), or after
    // (refused): either way the activation never happens and the browser hears the connect was given up.
    expect(outcome).toMatch(/^failed:(not_pending|connection_closed)$/);
    expect(await connectionRow(pendingId)).toEqual({
      status: 'error',
      error_reason: 'connect_cancelled',
    });
    const issued = (await xeroTokens()).filter((t) => !before.has(t.token));
    expect(issued.length).toBeGreaterThan(0);
    await waitFor(
      async () => {
        const now = await xeroTokens();
        return issued.every((t) => now.find((n) => n.token === t.token)?.status === 'revoked')
          ? true
          : undefined;
      },
      { timeoutMs: 20_000, what: "the cancelled connect's tokens revoked" },
    );
    await waitFor(async () => {
      const live = await h.db.query<{ n: string }>(
        `select count(*) as n from vault.credential where connection_id = $1 and ciphertext <> ''`,
        [pendingId],
      );
      return live[0]!.n === '0' ? true : undefined;
    });
    expect((await connectOAuth(h, h.admin, 'xero', 'app')).outcome).toBe('connected');
  });

  it("lets a member cancel their own personal connect, not another member's", async () => {
    const bus = new Bus(h.nc);
    // A personal connect left pending, as an edge killed mid-callback leaves it.
    const { connection } = await bus.request('connection.connections.create', {
      orgId: h.orgId,
      vendor: 'hubspot',
      level: 'user',
      userId: h.member.id,
      externalAccountId: 'u-bob',
      tenantId: 'acme',
    });
    expect(
      await trpcErrorOf(
        h.viewer.client.integrations.cancelConnect.mutate({ connectionId: connection.id }),
      ),
    ).toMatchObject({ code: 'FORBIDDEN' });
    const { connection: ended } = await h.member.client.integrations.cancelConnect.mutate({
      connectionId: connection.id,
    });
    expect(ended).toMatchObject({ id: connection.id, status: 'error' });
    const entry = await waitFor(async () =>
      (
        await h.admin.client.audit.list.query({
          filters: { action: 'connection.connect_failed', provider: 'hubspot' },
        })
      ).entries.find((e) => e.details['reason'] === 'connect_cancelled'),
    );
    expect(entry).toMatchObject({ actorUserId: h.member.id, details: { level: 'user' } });
  });
});
