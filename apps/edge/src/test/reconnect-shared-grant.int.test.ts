import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppError, TAuditAction } from '@otesse/contracts';
import { Bus } from '@otesse/messaging';
import { TestBrowser, waitFor } from '@otesse/testing';
import { connectOAuth, DASHBOARD_URL, startHarness, type THarness } from './e2e-harness';

type TMark = { orgId: string; connectionId: string; eventId: string; credentialId?: string };

/**
 * Seed 003 with Google, whose revocation ends the user's whole grant to our client (the fake provider's
 * `revokeScope: 'grant'`): a reconnect or change of user must not revoke a grant still in use. And a reconnect
 * whose connection changed user between its callback and its lock is refused.
 */
describe('reconnect and change user of a provider that revokes whole grants (whole stack as processes)', () => {
  let h: THarness;
  let bus: Bus;
  beforeAll(async () => {
    h = await startHarness();
    bus = new Bus(h.nc);
    await h.fakeClient.configure({ revokeScope: 'grant' });
    // An Acme employee whose account is also connected in another Otesse org (Acme's Google is pinned to acme).
    await h.fakeClient.setUsers([
      { id: 'u-cody', email: 'cody@acme.test', name: 'Cody Cole', tenantId: 'acme' },
    ]);
  });
  afterAll(async () => {
    await h?.close();
  });

  const appConnection = async () =>
    (await h.admin.client.integrations.list.query()).find((i) => i.provider.key === 'google')!
      .appConnection!;
  /** The vault's next use of the connection's token needs a refresh at the provider. */
  const dueForRefresh = (connectionId: string) =>
    h.db.query(
      `update vault.credential set expires_at = now() - interval '1 minute'
        where connection_id = $1 and kind = 'access_token' and is_active`,
      [connectionId],
    );
  const tokenOf = (connectionId: string) =>
    bus.request('vault.access-tokens.get', { orgId: h.orgId, connectionId });
  const globexTokenOf = (connectionId: string) =>
    bus.request('vault.access-tokens.get', { orgId: h.otherOrgId, connectionId });
  const auditOf = (
    action: TAuditAction,
    connectionId: string,
    match: (d: Record<string, unknown>) => boolean,
  ) =>
    waitFor(async () => {
      const { entries } = await h.admin.client.audit.list.query({ filters: { action } });
      return entries.find(
        (e) =>
          e.targets.connectionId === connectionId && match(e.details as Record<string, unknown>),
      );
    });
  const expireRefreshTokens = async (connectionId: string) => {
    await h.fakeClient.expireAccessTokens({});
    await h.fakeClient.expireRefreshTokens({});
    await dueForRefresh(connectionId);
    expect(await tokenOf(connectionId).catch((e: AppError) => e.reason)).toBe(
      'refresh_token_expired',
    );
  };

  it("a change of user of the org's connection away from Alice keeps Alice's own Google connection working", async () => {
    await connectOAuth(h, h.admin, 'google', 'app', { consentAs: 'u-alice' });
    const conn = await appConnection();
    expect(conn.externalAccountId).toBe('u-alice');
    const mine = await connectOAuth(h, h.member, 'google', 'user', { consentAs: 'u-alice' });
    expect(mine.outcome).toBe('connected');
    const { outcome } = await connectOAuth(h, h.admin, 'google', 'app', {
      action: 'changeUser',
      consentAs: 'u-bob',
    });
    expect(outcome).toBe('user_changed');
    const audited = await auditOf(
      'connection.user_changed',
      conn.id,
      (d) => d['newExternalAccount'] === 'u-bob',
    );
    await dueForRefresh(mine.connectionId!);
    await expect(tokenOf(mine.connectionId!)).resolves.toMatchObject({ kind: 'access_token' });
    expect(audited.details).toMatchObject({
      previousExternalAccount: 'u-alice',
      oldTokensRevoked: false,
      revocationSkipped: 'account_has_other_connection',
    });
    const [personal] = await h.db.query<{ refresh_token_expired: boolean }>(
      `select refresh_token_expired from connection.integration_connection where id = $1`,
      [mine.connectionId],
    );
    expect(personal).toEqual({ refresh_token_expired: false });
  });

  it('a reconnect with the same Google account keeps the new tokens working: the old ones are not revoked', async () => {
    const { id: connectionId, externalAccountId } = await appConnection();
    expect(externalAccountId).toBe('u-bob');
    await expireRefreshTokens(connectionId);
    const { outcome } = await connectOAuth(h, h.admin, 'google', 'app', {
      action: 'reconnect',
      consentAs: 'u-bob',
    });
    expect(outcome).toBe('reconnected');
    const audited = await auditOf('connection.reconnected', connectionId, () => true);
    // A refresh with the new refresh token succeeds: the grant is alive.
    await dueForRefresh(connectionId);
    await expect(tokenOf(connectionId)).resolves.toMatchObject({ kind: 'access_token' });
    expect((await appConnection()).refreshTokenExpired).toBe(false);
    expect(audited.details).toMatchObject({
      previousExternalAccount: 'u-bob',
      newExternalAccount: 'u-bob',
      oldTokensRevoked: false,
      revocationSkipped: 'same_account',
    });
    // The old tokens are gone from the vault all the same.
    const [retired] = await h.db.query<{ n: string }>(
      `select count(*) as n from vault.credential where connection_id = $1 and retired_at is not null and ciphertext <> ''`,
      [connectionId],
    );
    expect(retired!.n).toBe('0');
  });

  it('a reconnect whose connection changed user after its callback is refused (account_changed); the change stands', async () => {
    const conn = await appConnection();
    expect(conn.externalAccountId).toBe('u-bob');
    await expireRefreshTokens(conn.id);
    // The reconnect's saga is held just before it starts (after the callback checked the account it read).
    await h.db.query(`create table public.reconnect_gate (opened boolean)`);
    await h.db.query(`create function public.hold_reconnect() returns trigger language plpgsql
        security definer set search_path = public as $$
        begin
          if new.type = 'reconnect' then
            while not exists (select 1 from public.reconnect_gate) loop perform pg_sleep(0.05); end loop;
          end if;
          return new;
        end $$`);
    await h.db.query(`create trigger hold_reconnect before insert on edge.saga
        for each row execute function public.hold_reconnect()`);
    try {
      const reconnect = connectOAuth(h, h.admin, 'google', 'app', {
        action: 'reconnect',
        consentAs: 'u-bob',
      });
      await waitFor(async () => {
        const [held] = await h.db.query<{ n: string }>(
          `select count(*) as n from pg_stat_activity where wait_event = 'PgSleep' and query ilike '%insert into%saga%'`,
        );
        return held!.n !== '0' || undefined;
      });
      // Meanwhile an admin changes the connection's user to Alice, all the way.
      const changed = await connectOAuth(h, h.admin, 'google', 'app', {
        action: 'changeUser',
        consentAs: 'u-alice',
      });
      expect(changed.outcome).toBe('user_changed');
      await h.db.query(`insert into public.reconnect_gate values (true)`);
      expect((await reconnect).outcome).toBe('refused:account_changed');
    } finally {
      await h.db.query(`insert into public.reconnect_gate values (true)`);
      await h.db.query('drop trigger hold_reconnect on edge.saga');
      await h.db.query('drop function public.hold_reconnect()');
      await h.db.query('drop table public.reconnect_gate');
    }
    expect(await appConnection()).toMatchObject({
      id: conn.id,
      externalAccountId: 'u-alice',
      refreshTokenExpired: false,
    });
    const [lock] = await h.db.query<{ lock_saga_id: string | null }>(
      `select lock_saga_id from connection.integration_connection where id = $1`,
      [conn.id],
    );
    expect(lock).toEqual({ lock_saga_id: null });
    const refused = await auditOf(
      'connection.reconnect_failed',
      conn.id,
      (d) => d['reason'] === 'account_changed',
    );
    expect(refused.details).toMatchObject({ failedStep: 'lock', error: 'CONFLICT' });
    // The change of user's audit names the account it replaced.
    const audited = await auditOf(
      'connection.user_changed',
      conn.id,
      (d) => d['newExternalAccount'] === 'u-alice',
    );
    expect(audited.details).toMatchObject({ previousExternalAccount: 'u-bob' });
  });

  it('a refresh expiry the vault reports late, for a token a reconnect replaced, does not flag the reconnected connection', async () => {
    const conn = await appConnection();
    expect(conn.externalAccountId).toBe('u-alice');
    const [oldRefresh] = await h.db.query<{ id: string }>(
      `select id from vault.credential where connection_id = $1 and kind = 'refresh_token' and is_active`,
      [conn.id],
    );
    // A copy of each mark the vault sends (the connection service answers it).
    const marks: TMark[] = [];
    const sub = h.nc.subscribe('connection.connections.mark-refresh-expired', {
      callback: (_err, m) => marks.push(m.json<TMark>()),
    });
    try {
      await expireRefreshTokens(conn.id);
      await waitFor(async () => marks.find((m) => m.connectionId === conn.id));
    } finally {
      sub.unsubscribe();
    }
    const mark = marks.find((m) => m.connectionId === conn.id)!;
    // The mark names the refresh token that died.
    expect(mark.credentialId).toBe(oldRefresh!.id);
    expect((await appConnection()).refreshTokenExpired).toBe(true);
    const { outcome } = await connectOAuth(h, h.admin, 'google', 'app', {
      action: 'reconnect',
      consentAs: 'u-alice',
    });
    expect(outcome).toBe('reconnected');
    // The vault read the dead token before the swap; its mark arrives after complete-reconnect.
    const late = await bus
      .request('connection.connections.mark-refresh-expired', { ...mark, eventId: randomUUID() })
      .catch((e: AppError) => e);
    expect(late).toMatchObject({ code: 'CONFLICT', reason: 'credential_replaced' });
    expect((await appConnection()).refreshTokenExpired).toBe(false);
  });

  it("disconnecting Alice's own Google connection leaves the org's connection on her account working", async () => {
    const org = await appConnection();
    expect(org.externalAccountId).toBe('u-alice');
    const mine = (await h.member.client.integrations.list.query()).find(
      (i) => i.provider.key === 'google',
    )!.myConnection!;
    expect(mine.externalAccountId).toBe('u-alice');
    const { saga } = await h.member.client.disconnect.start.mutate({
      connectionId: mine.id,
      confirm: true,
    });
    expect(saga.status).toBe('completed');
    // Revoking her tokens would have ended the grant the org's connection uses: skipped, said, audited.
    expect(saga.result).toMatchObject({ revocationSkipped: 'account_has_other_connection' });
    const audited = await auditOf('connection.disconnected', mine.id, () => true);
    expect(audited.details).toMatchObject({
      revocationSucceeded: false,
      revocationSkipped: 'account_has_other_connection',
      credentialsDeleted: expect.any(Number),
    });
    expect(String((audited.details as { warnings: string[] }).warnings)).toContain(
      'another live connection of this account',
    );
    // Her personal tokens are destroyed all the same; the org's connection still refreshes on the grant.
    const [left] = await h.db.query<{ n: string }>(
      `select count(*) as n from vault.credential where connection_id = $1 and ciphertext <> ''`,
      [mine.id],
    );
    expect(left!.n).toBe('0');
    await dueForRefresh(org.id);
    await expect(tokenOf(org.id)).resolves.toMatchObject({ kind: 'access_token' });
  });

  it("a connect refused for a slot already taken drops its tokens, without revoking the grant Alice's connections use", async () => {
    await h.fakeClient.consentAs('u-alice');
    const link = async () =>
      (await h.admin.client.integrations.oauthUrl.query({ vendor: 'google', flow: 'user' })).url;
    // Two tabs, two clicks, while the admin's own slot is empty: both links go to Alice's account.
    const [first, second] = [await link(), await link()];
    const one = await new TestBrowser().follow(first, { stopAt: DASHBOARD_URL });
    expect(new URL(one.stoppedAt!).searchParams.get('oauth')).toBe('connected');
    const two = await new TestBrowser().follow(second, { stopAt: DASHBOARD_URL });
    expect(Object.fromEntries(new URL(two.stoppedAt!).searchParams)).toMatchObject({
      oauth: 'failed',
      reason: 'already_connected',
    });
    // Revoking the refused tokens would have ended the grant both live connections of u-alice use.
    const own = (await h.admin.client.integrations.list.query()).find(
      (i) => i.provider.key === 'google',
    )!;
    for (const id of [own.myConnection!.id, own.appConnection!.id]) {
      await dueForRefresh(id);
      await expect(tokenOf(id)).resolves.toMatchObject({ kind: 'access_token' });
    }
  });
  it("a disconnect in one org leaves the same Google account's connection in another org working; the last one revokes", async () => {
    // One OAuth client per vendor for the whole deployment: Cody's account in Globex and in Acme is one grant.
    const theirs = await connectOAuth(h, h.otherAdmin, 'google', 'app', { consentAs: 'u-cody' });
    expect(theirs.outcome).toBe('connected');
    const mine = await connectOAuth(h, h.member, 'google', 'user', { consentAs: 'u-cody' });
    expect(mine.outcome).toBe('connected');
    const { saga } = await h.member.client.disconnect.start.mutate({
      connectionId: mine.connectionId!,
      confirm: true,
    });
    expect(saga.status).toBe('completed');
    expect(saga.result).toMatchObject({
      revocationSkipped: 'account_has_other_connection',
      credentialsDeleted: expect.any(Number),
    });
    // Globex's connection still refreshes on the grant.
    await dueForRefresh(theirs.connectionId!);
    await expect(globexTokenOf(theirs.connectionId!)).resolves.toMatchObject({
      kind: 'access_token',
    });
    // Globex's disconnect is the account's last connection: it revokes the grant.
    const last = await h.otherAdmin.client.disconnect.start.mutate({
      connectionId: theirs.connectionId!,
      confirm: true,
    });
    expect(last.saga.status).toBe('completed');
    expect(last.saga.result).toMatchObject({
      revocationSucceeded: true,
      revocationSkipped: null,
    });
  });
  it('a disconnect resumed after its edge died asks again who holds the grant: a connection made meanwhile keeps it', async () => {
    const mine = await connectOAuth(h, h.member, 'google', 'user', { consentAs: 'u-cody' });
    expect(mine.outcome).toBe('connected');
    // The scheduler's disable step takes 3 s (its idempotency record waits in a trigger): time to kill the edge
    // between the lock, which found no other holder of u-cody, and the revocation.
    await h.db.query(`create function public.slow_disable() returns trigger language plpgsql as $$
        begin
          if new.subject = 'sync-scheduler.jobs.disable-for-connection' then perform pg_sleep(3); end if;
          return new;
        end $$`);
    await h.db.query(`create trigger slow_disable before insert on sync.processed_command
        for each row execute function public.slow_disable()`);
    let sagaId: string;
    try {
      ({ sagaId } = await h.member.client.disconnect.start.mutate({
        connectionId: mine.connectionId!,
        confirm: true,
        waitMs: 0,
      }));
      const lock = await waitFor(async () => {
        const [row] = await h.db.query<{ result: Record<string, unknown> | null }>(
          `select l.result from edge.saga_step l join edge.saga_step d on d.saga_id = l.saga_id
            where l.saga_id = $1 and l.name = 'lock' and d.name = 'disable-sync-jobs' and d.status = 'running'`,
          [sagaId],
        );
        return row?.result ?? undefined;
      });
      expect(lock).toMatchObject({ accountGrantInUse: false });
      await h.stack.kill('edge', 'SIGKILL');
    } finally {
      await h.db.query('drop trigger slow_disable on sync.processed_command');
      await h.db.query('drop function public.slow_disable()');
    }
    // A new edge: the saga's lease (15 s) still runs, so Cody connects his account in Globex before it is recovered.
    await h.stack.start('edge');
    const theirs = await connectOAuth(h, h.otherAdmin, 'google', 'app', { consentAs: 'u-cody' });
    expect(theirs.outcome).toBe('connected');
    const [stillOpen] = await h.db.query<{ status: string }>(
      `select status from edge.saga where id = $1`,
      [sagaId],
    );
    expect(stillOpen).toEqual({ status: 'running' });
    const done = await waitFor(
      async () => {
        const st = await h.member.client.disconnect.status.query({ sagaId });
        return st.status === 'completed' ? st : undefined;
      },
      { timeoutMs: 40_000, intervalMs: 250 },
    );
    // The recovered saga did not trust the lock's old answer: it asked again and left the grant alone.
    expect(done.result).toMatchObject({ revocationSkipped: 'account_has_other_connection' });
    await dueForRefresh(theirs.connectionId!);
    await expect(globexTokenOf(theirs.connectionId!)).resolves.toMatchObject({
      kind: 'access_token',
    });
  });

  /** Globex's Google connection of Cody's account (connected by a test before, or now): its id. */
  const globexHoldsCody = async (): Promise<string> => {
    const listed = (await h.otherAdmin.client.integrations.list.query()).find(
      (i) => i.provider.key === 'google',
    )?.appConnection;
    if (listed?.status === 'connected' && listed.externalAccountId === 'u-cody') return listed.id;
    return (await connectOAuth(h, h.otherAdmin, 'google', 'app', { consentAs: 'u-cody' }))
      .connectionId!;
  };

  it("an abandoned connect of an account another org's connection holds: its tokens destroyed, the shared grant left alone", async () => {
    const theirsId = await globexHoldsCody();
    // In Acme, a connect of the same account that its edge never finished: created, its tokens stored (real ones,
    // of the same grant), then abandoned.
    const { connection } = await bus.request('connection.connections.create', {
      orgId: h.orgId,
      vendor: 'google',
      level: 'user',
      userId: h.viewer.id,
      externalAccountId: 'u-cody',
      tenantId: 'acme',
      details: {},
    });
    const issued = h.fake.state.issueTokens({
      clientId: 'otesse-dev-google',
      user: h.fake.state.findUser('u-cody')!,
      instance: undefined,
      scope: '',
      familyId: randomUUID(),
    });
    await bus.request('vault.credentials.store', {
      orgId: h.orgId,
      connectionId: connection.id,
      vendor: 'google',
      credentials: [
        { kind: 'access_token', value: issued.access.token, expiresAt: null },
        { kind: 'refresh_token', value: issued.refresh.token, expiresAt: null },
      ],
    });
    await bus.request('connection.connections.abandon', {
      orgId: h.orgId,
      connectionId: connection.id,
      reason: 'connect_failed',
    });
    await waitFor(
      async () => {
        const rows = await h.db.query<{ is_deleted: boolean; ciphertext: string }>(
          `select is_deleted, ciphertext from vault.credential where connection_id = $1`,
          [connection.id],
        );
        return rows.length === 2 && rows.every((r) => r.is_deleted && r.ciphertext === '');
      },
      { timeoutMs: 15_000, what: "the abandoned connect's credentials destroyed" },
    );
    // Before: revoked, which at Google ends the whole grant, Globex's connection with it.
    expect(h.fake.state.tokenStatus(issued.refresh.token).status).toBe('active');
    await dueForRefresh(theirsId);
    await expect(globexTokenOf(theirsId)).resolves.toMatchObject({ kind: 'access_token' });
  });

  it("a connect whose identity cannot be read: its staged tokens destroyed without revoking, since the account they are of may hold a live connection (Globex's here)", async () => {
    const theirsId = await globexHoldsCody();
    const before = new Set(
      (await h.fakeClient.listTokens({ userId: 'u-cody' })).map((t) => t.token),
    );
    await h.fakeClient.configure({ userinfoMode: '500' });
    try {
      const { outcome } = await connectOAuth(h, h.member, 'google', 'user', {
        consentAs: 'u-cody',
      });
      expect(outcome).toMatch(/^failed:/);
    } finally {
      await h.fakeClient.configure({ userinfoMode: 'ok' });
    }
    const issued = (await h.fakeClient.listTokens({ userId: 'u-cody' })).filter(
      (t) => !before.has(t.token),
    );
    expect(issued.map((t) => t.type).sort()).toEqual(['access', 'refresh']);
    // The callback staged them, then discarded the stage: destroyed, nothing of it left live in the vault.
    const staged = await h.db.query<{ is_deleted: boolean; ciphertext: string }>(
      `select is_deleted, ciphertext from vault.credential
        where staged_until is not null and created_at > now() - interval '1 minute'`,
    );
    expect(staged.length).toBeGreaterThanOrEqual(2);
    expect(staged.every((r) => r.is_deleted && r.ciphertext === '')).toBe(true);
    // Before: revoked, as the account was unknown — at Google that ends the whole grant, Globex's connection too.
    for (const t of issued) expect(h.fake.state.tokenStatus(t.token).status).toBe('active');
    await dueForRefresh(theirsId);
    await expect(globexTokenOf(theirsId)).resolves.toMatchObject({ kind: 'access_token' });
  });
});
