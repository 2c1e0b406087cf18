import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '@otesse/contracts';
import { Bus } from '@otesse/messaging';
import { failUpdatesWhere, waitFor } from '@otesse/testing';
import { connectOAuth, startHarness, type THarness, type TSeededUser } from './e2e-harness';

/**
 * `integrations.list` as each role sees it: an admin (settings.edit) gets the other members' live personal
 * connections with their owner, so the dashboard can disconnect on their behalf; nobody else gets anyone's;
 * another org's never appear. `refreshTokenExpired` covers what the caller can act on (the app-level connection
 * and their own), while the REST endpoint keeps the seed's aggregate.
 */
describe('integrations.list: other members’ connections and actionable expiry (whole stack)', () => {
  let h: THarness;
  let bus: Bus;
  const ids: Record<'app' | 'member' | 'viewer' | 'globex', string> = {
    app: '',
    member: '',
    viewer: '',
    globex: '',
  };

  beforeAll(async () => {
    h = await startHarness();
    // A colleague of the same company: each instance is pinned to the tenant of its first connection (acme).
    await h.fakeClient.setUsers([
      { id: 'u-dana', email: 'dana@acme.test', name: 'Dana Diaz', tenantId: 'acme' },
    ]);
    bus = new Bus(h.nc, { timeoutMs: 10_000 });
    const connect = async (who: TSeededUser, flow: 'app' | 'user', consentAs: string) => {
      const { outcome, connectionId } = await connectOAuth(h, who, 'google', flow, { consentAs });
      expect(outcome).toBe('connected');
      return connectionId!;
    };
    // Acme: the org's connection (admin), two personal ones (member, viewer); Globex: its admin's personal one.
    ids.app = await connect(h.admin, 'app', 'u-alice');
    ids.member = await connect(h.member, 'user', 'u-dana');
    ids.viewer = await connect(h.viewer, 'user', 'u-bob');
    ids.globex = await connect(h.otherAdmin, 'user', 'u-bob');
  });
  afterAll(async () => {
    await h?.close();
  });

  const google = async (who: TSeededUser) =>
    (await who.client.integrations.list.query({ category: 'productivity' })).find(
      (i) => i.provider.key === 'google',
    )!;
  const restExpired = async (token: string) => {
    const res = await fetch(`${h.stack.edgeUrl}/v1/account/integrations?type=productivity`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const body = (await res.json()) as { vendor: string; refreshTokenExpired: boolean }[];
    return body.find((i) => i.vendor === 'google')!.refreshTokenExpired;
  };
  /** The provider refuses the fake user's refresh token; the next token use (due access token) meets invalid_grant. */
  const expireRefreshToken = async (fakeUserId: string, connectionId: string) => {
    await h.fakeClient.expireRefreshTokens({ userId: fakeUserId });
    await h.fakeClient.expireAccessTokens({ userId: fakeUserId });
    await h.db.query(
      `update vault.credential set expires_at = now() - interval '1 minute'
        where connection_id = $1 and kind = 'access_token' and is_active`,
      [connectionId],
    );
    const err = await bus.request('vault.access-tokens.get', { orgId: h.orgId, connectionId }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).reason).toBe('refresh_token_expired');
  };

  it('an admin sees the members’ personal connections with their owner; the others see none of them', async () => {
    const asAdmin = await google(h.admin);
    expect(asAdmin.appConnection?.id).toBe(ids.app);
    expect(asAdmin.myConnection).toBeNull();
    expect(asAdmin.otherConnections).toEqual([
      expect.objectContaining({
        id: ids.member,
        level: 'user',
        userId: h.member.id,
        status: 'connected',
        externalAccountId: 'u-dana',
        refreshTokenExpired: false,
        owner: { email: 'member@acme.test', name: 'member' },
      }),
      expect.objectContaining({
        id: ids.viewer,
        userId: h.viewer.id,
        owner: { email: 'viewer@acme.test', name: 'viewer' },
      }),
    ]);
    // Never another org's connection.
    expect(JSON.stringify(await h.admin.client.integrations.list.query())).not.toContain(
      ids.globex,
    );

    // A member and a viewer (no settings.edit): their own connection, nobody else's.
    const asMember = await google(h.member);
    expect(asMember.myConnection?.id).toBe(ids.member);
    expect(asMember.otherConnections).toEqual([]);
    const asViewer = await google(h.viewer);
    expect(asViewer.myConnection?.id).toBe(ids.viewer);
    expect(asViewer.otherConnections).toEqual([]);
    for (const [who, notTheirs] of [
      [h.member, ids.viewer],
      [h.viewer, ids.member],
    ] as const) {
      const all = JSON.stringify(await who.client.integrations.list.query());
      expect(all).not.toContain(notTheirs);
      expect(all).not.toContain(ids.globex);
    }

    // Another org's admin sees only its own org: its own personal connection, no Acme connection at all.
    const asGlobex = await google(h.otherAdmin);
    expect(asGlobex.myConnection?.id).toBe(ids.globex);
    expect(asGlobex.appConnection).toBeNull();
    expect(asGlobex.otherConnections).toEqual([]);
    const globexAll = JSON.stringify(await h.otherAdmin.client.integrations.list.query());
    for (const id of [ids.app, ids.member, ids.viewer]) expect(globexAll).not.toContain(id);
  });

  it('names who made each connection and whose connection each sync job is for, only as far as the caller may see', async () => {
    const admin = { email: 'admin@acme.test', name: 'admin' };
    // Everyone sees who made the organization's connection; each their own; an admin the members' too.
    const asMember = await google(h.member);
    expect(asMember.appConnection?.connectedBy).toEqual(admin);
    expect(asMember.myConnection?.connectedBy).toEqual({
      email: 'member@acme.test',
      name: 'member',
    });
    expect((await google(h.admin)).otherConnections.map((c) => c.connectedBy)).toEqual([
      { email: 'member@acme.test', name: 'member' },
      { email: 'viewer@acme.test', name: 'viewer' },
    ]);

    // The instance's jobs, one per connection: each says whose connection it syncs for.
    const instanceId = asMember.instance!.id;
    const jobsAs = async (who: TSeededUser) =>
      new Map(
        (await who.client.sync.listJobs.query({ instanceId })).jobs.map((j) => [
          j.job.connectionId,
          j.connection,
        ]),
      );
    const asViewer = await jobsAs(h.viewer);
    expect([...asViewer.keys()].sort()).toEqual([ids.app, ids.member, ids.viewer].sort());
    expect(asViewer.get(ids.app)).toEqual({
      id: ids.app,
      level: 'app',
      userId: h.admin.id,
      status: 'connected',
      refreshTokenExpired: false,
      connectedBy: admin,
    });
    // settings.view names every member (they read the audit log, which does).
    expect(asViewer.get(ids.member)).toMatchObject({
      level: 'user',
      connectedBy: { email: 'member@acme.test', name: 'member' },
    });
    // A member: the org's and their own, but not which colleague connected their own account.
    const memberSees = await jobsAs(h.member);
    expect(memberSees.get(ids.app)?.connectedBy).toEqual(admin);
    expect(memberSees.get(ids.member)?.connectedBy?.email).toBe('member@acme.test');
    expect(memberSees.get(ids.viewer)).toMatchObject({ level: 'user', connectedBy: null });
    expect(JSON.stringify([...memberSees.values()])).not.toContain('viewer@acme.test');

    // The disconnect dialog says whose connections keep the instance connected, with the same reach.
    const mine = await h.member.client.disconnect.preview.query({ connectionId: ids.member });
    expect(mine.instanceWillBeRevoked).toBe(false);
    expect(mine.texts.instanceNote).toBe(
      "The organization's connection and another member's personal connection keep Google Workspace connected for your organization; only this connection is revoked.",
    );
    expect(mine.owner).toBeNull();
    expect(mine.texts.title).toBe('Disconnect Google Workspace?');
    const onBehalf = await h.admin.client.disconnect.preview.query({ connectionId: ids.member });
    // An admin disconnecting a member's connection is told whose it is.
    expect(onBehalf.owner).toEqual({ email: 'member@acme.test', name: 'member' });
    expect(onBehalf.texts.title).toBe("Disconnect member's Google Workspace connection?");
    expect(onBehalf.texts.instanceNote).toBe(
      "The organization's connection and viewer's personal connection keep Google Workspace connected for your organization; only this connection is revoked.",
    );
  });

  it('a member’s expired personal connection: the member is warned, the admin sees it on that connection only', async () => {
    await expireRefreshToken('u-dana', ids.member);

    const asMember = await google(h.member);
    expect(asMember.refreshTokenExpired).toBe(true);
    expect(asMember.myConnection).toMatchObject({ id: ids.member, refreshTokenExpired: true });

    // The admin cannot reconnect someone else's personal OAuth: no integration-level warning, the flag is on
    // the member's entry of the other-connections list.
    const asAdmin = await google(h.admin);
    expect(asAdmin.refreshTokenExpired).toBe(false);
    expect(asAdmin.appConnection).toMatchObject({ id: ids.app, refreshTokenExpired: false });
    expect(asAdmin.otherConnections.map((c) => [c.id, c.status, c.refreshTokenExpired])).toEqual([
      [ids.member, 'connected', true],
      [ids.viewer, 'connected', false],
    ]);
    // Nor does the viewer, whose own connection and the org's are fine.
    expect((await google(h.viewer)).refreshTokenExpired).toBe(false);
    // The seed's REST contract keeps its aggregate over every connected connection of the instance.
    expect(await restExpired(h.viewer.token)).toBe(true);
    expect(await restExpired(h.admin.token)).toBe(true);
  });

  it('the org’s expired connection warns everyone (admins reconnect it, the others ask them)', async () => {
    await expireRefreshToken('u-alice', ids.app);
    for (const who of [h.admin, h.member, h.viewer]) {
      const entry = await google(who);
      expect(entry.refreshTokenExpired).toBe(true);
      expect(entry.appConnection).toMatchObject({ id: ids.app, refreshTokenExpired: true });
    }
    // Another org is untouched.
    expect((await google(h.otherAdmin)).refreshTokenExpired).toBe(false);
  });

  it('after the admin disconnects the member’s connection, it leaves the list; the audit names the admin', async () => {
    const { saga } = await h.admin.client.disconnect.start.mutate({
      connectionId: ids.member,
      confirm: true,
    });
    expect(saga.status).toBe('completed');
    const asAdmin = await google(h.admin);
    expect(asAdmin.otherConnections.map((c) => c.id)).toEqual([ids.viewer]);
    expect(asAdmin.instance?.status).toBe('connected');
    expect((await google(h.member)).myConnection).toBeNull();
    const entry = await waitFor(async () => {
      const { entries } = await h.admin.client.audit.list.query({
        filters: { action: 'connection.disconnected', provider: 'google' },
      });
      return entries.find((e) => e.targets.connectionId === ids.member);
    });
    expect(entry).toMatchObject({ actorUserId: h.admin.id, onBehalfOfUserId: h.member.id });
  });

  it('warns of a dependent feature only when the disconnect takes the instance down', async () => {
    await h.admin.client.integrations.configureInstance.mutate({
      vendor: 'servicenow',
      subdomain: 'acme',
    });
    const app = await connectOAuth(h, h.admin, 'servicenow', 'app', { consentAs: 'u-alice' });
    const mine = await connectOAuth(h, h.member, 'servicenow', 'user', { consentAs: 'u-dana' });
    expect([app.outcome, mine.outcome]).toEqual(['connected', 'connected']);
    // The member's own connection: the organization's keeps ServiceNow (and the Support inbox's sync) going.
    const personal = await h.member.client.disconnect.preview.query({
      connectionId: mine.connectionId!,
    });
    expect(personal.dependents.map((d) => d.label)).toEqual(['Ticket sync in the Support inbox']);
    expect(personal.texts.dependentWarnings).toEqual([]);
    expect(personal.texts.instanceNote).toBe(
      "The organization's connection keeps ServiceNow connected for your organization; only this connection is revoked.",
    );
    const { saga } = await h.member.client.disconnect.start.mutate({
      connectionId: mine.connectionId!,
      confirm: true,
    });
    expect(saga.status).toBe('completed');
    // Now the organization's is the last: its disconnect would stop the feature, and says so.
    const last = await h.admin.client.disconnect.preview.query({ connectionId: app.connectionId! });
    expect(last.instanceWillBeRevoked).toBe(true);
    expect(last.texts.dependentWarnings).toEqual([
      'Disconnecting may affect Ticket sync in the Support inbox.',
    ]);
  });

  it('a disconnect that stopped after revoking the connection stays on the card, with whom it may concern', async () => {
    const { outcome, connectionId } = await connectOAuth(h, h.member, 'salesforce', 'user', {
      consentAs: 'u-dana',
    });
    expect(outcome).toBe('connected');
    const salesforce = async (who: TSeededUser) =>
      (await who.client.integrations.list.query()).find((i) => i.provider.key === 'salesforce')!;
    // The vault cannot destroy credentials any more: the statuses (a concurrent step) are updated, the saga stops.
    const fix = await failUpdatesWhere(h.db, {
      name: 'refuse_destroy_list',
      table: 'vault.credential',
      when: 'new.is_deleted',
      message: 'disk full',
    });
    try {
      const { sagaId } = await h.member.client.disconnect.start.mutate({
        connectionId: connectionId!,
        confirm: true,
        waitMs: 0,
      });
      await waitFor(
        async () => (await h.member.client.disconnect.status.query({ sagaId })).status === 'failed',
        { timeoutMs: 40_000, intervalMs: 250 },
      );
      const [row] = await h.db.query<{ status: string }>(
        `select status from connection.integration_connection where id = $1`,
        [connectionId],
      );
      expect(row?.status).toBe('revoked');

      // The member: no live connection, but the stopped disconnect on their revoked one, to resume.
      const asMember = await salesforce(h.member);
      expect(asMember.myConnection).toBeNull();
      expect(asMember.unfinishedConnections).toEqual([
        expect.objectContaining({
          id: connectionId,
          level: 'user',
          status: 'revoked',
          connectedBy: { email: 'member@acme.test', name: 'member' },
          operation: expect.objectContaining({
            sagaId,
            type: 'disconnect',
            status: 'failed',
            needsResume: true,
          }),
        }),
      ]);
      // An admin (who may resume it) sees it with its owner; a viewer, whose it is not, does not.
      expect((await salesforce(h.admin)).unfinishedConnections).toEqual([
        expect.objectContaining({
          id: connectionId,
          owner: { email: 'member@acme.test', name: 'member' },
          operation: expect.objectContaining({ sagaId, needsResume: true }),
        }),
      ]);
      expect((await salesforce(h.viewer)).unfinishedConnections).toEqual([]);
      expect(JSON.stringify(await h.otherAdmin.client.integrations.list.query())).not.toContain(
        connectionId!,
      );

      await fix();
      const resumed = await h.member.client.operations.resume.mutate({ sagaId, waitMs: 20_000 });
      expect(resumed.saga.status).toBe('completed');
    } finally {
      await fix();
    }
    // Finished: nothing left to show.
    expect((await salesforce(h.member)).unfinishedConnections).toEqual([]);
    expect((await salesforce(h.admin)).unfinishedConnections).toEqual([]);
  });
});
