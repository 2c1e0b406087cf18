import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bus } from '@otesse/messaging';
import { connectOAuth, startHarness, type THarness } from './e2e-harness';
import { OTHERS_SHOWN } from '../routers/integrations-router/list-integrations';
import { JOBS_SHOWN } from '../routers/sync-router/list-jobs';

/** Members of Acme who connected Google with their own account, seeded beside the real connections. */
const MEMBERS = 2_500;
/** Ended connections of those members (earlier disconnects): history that no answer may carry. */
const HISTORY = 1_000;
/** Of the seeded members' connections, every 100th can no longer refresh. */
const EXPIRED = MEMBERS / 100;

/**
 * An org whose user-level provider has a connection per member. Every connection in one NATS reply is ~600 bytes:
 * a few thousand pass NATS's 1 MB payload limit, and any read that carried them all would fail for everyone. Each
 * read the dashboard, the REST API and the OAuth routes make answers here, with what its caller needs: counts where
 * it shows numbers, the caller's own connection, a bounded page of the members' for an admin.
 */
describe('an org with thousands of personal connections to one provider (whole stack)', () => {
  let h: THarness;
  let bus: Bus;
  let appId = '';
  let memberId = '';
  let instanceId = '';

  beforeAll(async () => {
    h = await startHarness();
    // A colleague of the same company: each instance is pinned to the tenant of its first connection (acme).
    await h.fakeClient.setUsers([
      { id: 'u-dana', email: 'dana@acme.test', name: 'Dana Diaz', tenantId: 'acme' },
    ]);
    bus = new Bus(h.nc, { timeoutMs: 20_000 });
    const app = await connectOAuth(h, h.admin, 'google', 'app', { consentAs: 'u-alice' });
    const member = await connectOAuth(h, h.member, 'google', 'user', { consentAs: 'u-dana' });
    expect([app.outcome, member.outcome]).toEqual(['connected', 'connected']);
    appId = app.connectionId!;
    memberId = member.connectionId!;
    const [row] = await h.db.query<{ instance_id: string }>(
      `select instance_id from connection.integration_connection where id = $1`,
      [memberId],
    );
    instanceId = row!.instance_id;
    // The members, as the edge knows them (named "Member 0001"…), each with a connected personal connection made
    // after the real ones (in the reverse order of their names: the list's order by owner is not its cut's), and
    // earlier, ended connections of theirs.
    await h.db.query(
      `insert into edge.app_user (id, org_id, email, name, permissions, created_at)
       select gen_random_uuid(), $1, 'seed-' || lpad(n::text, 4, '0') || '@acme.test',
              'Member ' || lpad(n::text, 4, '0'), '[]'::jsonb, now()
         from generate_series(1, $2) n`,
      [h.orgId, MEMBERS],
    );
    await h.db.query(
      `insert into connection.integration_connection
         (id, org_id, instance_id, vendor, level, user_id, status, external_account_id, refresh_token_expired,
          details, connected_at, created_at, updated_at)
       select gen_random_uuid(), $1, $2, 'google', 'user', u.id, 'connected', 'acct-' || u.email,
              right(split_part(u.email, '@', 1), 2) = '00', '{}'::jsonb, now(),
              now() + ((${MEMBERS + 1} - substr(u.email, 6, 4)::int) * interval '1 millisecond'), now()
         from edge.app_user u where u.org_id = $1 and u.email like 'seed-%@acme.test'`,
      [h.orgId, instanceId],
    );
    await h.db.query(
      `insert into connection.integration_connection
         (id, org_id, instance_id, vendor, level, user_id, status, external_account_id, details, connected_at,
          revoked_at, created_at, updated_at)
       select gen_random_uuid(), $1, $2, 'google', 'user', u.id, 'revoked', 'old-' || u.email, '{}'::jsonb,
              now() - interval '2 days', now() - interval '1 day', now() - interval '2 days', now()
         from edge.app_user u where u.org_id = $1 and u.email like 'seed-%@acme.test'
        order by u.email limit $3`,
      [h.orgId, instanceId, HISTORY],
    );
    // Their sync jobs, one per resource, as a connect creates them; not due for a day, so none runs meanwhile.
    await h.db.query(
      `insert into sync.sync_job (org_id, instance_id, connection_id, vendor, resource, schedule, is_enabled,
                                  next_run_at, created_at, updated_at)
       select c.org_id, c.instance_id, c.id, 'google', r.resource, j.schedule, true, now() + interval '1 day',
              c.created_at, now()
         from connection.integration_connection c
         cross join (values ('contacts'), ('invoices'), ('tickets')) r(resource)
         cross join (select schedule from sync.sync_job where connection_id = $2 limit 1) j
        where c.instance_id = $1 and c.status = 'connected' and c.external_account_id like 'acct-%'`,
      [instanceId, memberId],
    );
  });
  afterAll(async () => {
    await h?.close();
  });

  const google = async (who: THarness['admin']) =>
    (await who.client.integrations.list.query({ category: 'productivity' })).find(
      (i) => i.provider.key === 'google',
    )!;

  it('the unfiltered list would not fit in one NATS message: what the reads below avoid', async () => {
    await expect(bus.request('connection.integrations.list', { orgId: h.orgId })).rejects.toThrow();
  });

  it('a member’s list: their own connection and the counts, none of the members’ connections', async () => {
    const card = await google(h.member);
    expect(card.myConnection?.id).toBe(memberId);
    expect(card.appConnection?.id).toBe(appId);
    expect(card.otherConnections).toEqual([]);
    expect(card.otherConnectionsTotal).toBe(0);
    expect(card.userConnections).toBe(MEMBERS + 1);
    expect(card.integrated).toBe(true);
    const mine = await h.member.client.integrations.myConnections.query();
    expect(mine.map((c) => c.id)).toEqual([memberId]);
  });

  it('an admin’s list: the oldest members’ connections with their owner, and how many there are', async () => {
    const card = await google(h.admin);
    expect(card.otherConnections).toHaveLength(OTHERS_SHOWN);
    expect(card.otherConnectionsTotal).toBe(MEMBERS + 1);
    expect(card.userConnections).toBe(MEMBERS + 1);
    // The oldest first: the real member's, then the seeded ones in the order they connected.
    const owners = card.otherConnections.map((c) => c.owner?.name ?? null);
    expect(owners).toContain('member');
    expect(owners).toContain(`Member ${MEMBERS}`);
    expect(owners).toContain(`Member ${MEMBERS - OTHERS_SHOWN + 2}`);
    expect(owners).not.toContain(`Member ${MEMBERS - OTHERS_SHOWN + 1}`);
    // Shown by owner, not in the order they were cut: where the rest begins is the list's to say.
    expect(card.otherConnectionsNext).not.toBe(card.otherConnections.at(-1)!.id);
    expect(card.otherConnections.every((c) => c.status === 'connected')).toBe(true);
  });

  it('an admin pages through every member’s connection, from where the list stops; nobody else may', async () => {
    const card = await google(h.admin);
    const seen = new Set(card.otherConnections.map((c) => c.id));
    let after: string | null = card.otherConnectionsNext;
    let pages = 0;
    while (after) {
      const page: Awaited<ReturnType<typeof h.admin.client.integrations.memberConnections.query>> =
        await h.admin.client.integrations.memberConnections.query({
          vendor: 'google',
          after,
          limit: 200,
        });
      for (const c of page.connections) {
        expect(seen.has(c.id)).toBe(false);
        seen.add(c.id);
        expect(c.status).toBe('connected');
        expect(c.owner?.name).toMatch(/^Member \d{4}$/);
      }
      after = page.nextAfter;
      pages += 1;
    }
    expect(seen.size).toBe(MEMBERS + 1);
    expect(pages).toBe(Math.ceil((MEMBERS + 1 - OTHERS_SHOWN) / 200));
    // From the start, the first page holds the list's connections, and ends where the list says the rest begins.
    const first = await h.admin.client.integrations.memberConnections.query({
      vendor: 'google',
      limit: OTHERS_SHOWN,
    });
    expect(first.connections.map((c) => c.id).sort()).toEqual(
      card.otherConnections.map((c) => c.id).sort(),
    );
    expect(first.nextAfter).toBe(card.otherConnectionsNext);

    await expect(
      h.member.client.integrations.memberConnections.query({ vendor: 'google' }),
    ).rejects.toMatchObject({ data: { code: 'FORBIDDEN' } });
    await expect(
      h.admin.client.integrations.memberConnections.query({ vendor: 'google', limit: 0 }),
    ).rejects.toMatchObject({ data: { code: 'BAD_REQUEST' } });
    // Another org's admin: none of Acme's, even with an Acme connection as the cursor.
    const globex = await h.otherAdmin.client.integrations.memberConnections.query({
      vendor: 'google',
      after: card.otherConnections[0]!.id,
    });
    expect(globex).toEqual({ connections: [], nextAfter: null });
  });

  it('the sync jobs: the org’s and the caller’s own first, at most a page of the members’, and how many there are', async () => {
    const realJobs = await h.db.query<{ connection_id: string }>(
      `select connection_id from sync.sync_job where instance_id = $1 and connection_id in ($2, $3)`,
      [instanceId, appId, memberId],
    );
    expect(realJobs.length).toBeGreaterThan(0);
    for (const who of [h.member, h.admin]) {
      const list = await who.client.sync.listJobs.query({ instanceId });
      expect(list.jobsTotal).toBe(realJobs.length + MEMBERS * 3);
      expect(list.jobs).toHaveLength(JOBS_SHOWN);
      const byConnection = new Set(list.jobs.map((j) => j.job.connectionId));
      expect(byConnection.has(appId)).toBe(true);
      if (who === h.member) expect(byConnection.has(memberId)).toBe(true);
      // Each listed job names its connection (the members' with no owner for a member: not theirs to know).
      expect(list.jobs.every((j) => j.connection !== null)).toBe(true);
    }
    const asMember = await h.member.client.sync.listJobs.query({ instanceId });
    const seeded = asMember.jobs.find(
      (j) => j.connection?.userId !== h.member.id && j.connection?.level === 'user',
    );
    expect(seeded?.connection?.connectedBy).toBeNull();
    // Nor whose it is: no colleague's user id (the connection's own id and state only).
    expect(seeded?.connection?.userId).toBeNull();
    expect(
      asMember.jobs
        .filter((j) => j.connection?.level === 'user' && j.job.connectionId !== memberId)
        .every((j) => j.connection?.userId === null),
    ).toBe(true);
    // The member's own, and the org's, keep theirs; an admin sees every one's.
    expect(asMember.jobs.find((j) => j.job.connectionId === memberId)?.connection?.userId).toBe(
      h.member.id,
    );
    const asAdmin = await h.admin.client.sync.listJobs.query({ instanceId });
    expect(asAdmin.jobs.every((j) => typeof j.connection?.userId === 'string')).toBe(true);
  });

  it('the REST aggregate counts every member and sees the expired refresh tokens among them', async () => {
    const res = await fetch(
      `${h.stack.edgeUrl}/v1/account/integrations?type=productivity&includeUserLevelConnectionData=true`,
      { headers: { authorization: `Bearer ${h.member.token}` } },
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      vendor: string;
      refreshTokenExpired: boolean;
      connectionDetails?: { total: number; connected: number };
    }[];
    const entry = body.find((i) => i.vendor === 'google')!;
    expect(entry.connectionDetails?.connected).toBe(MEMBERS + 1);
    expect(entry.connectionDetails?.total).toBeGreaterThanOrEqual(MEMBERS + 3);
    // Every 100th seeded member's refresh token is expired: the seed's aggregate says so.
    expect(EXPIRED).toBeGreaterThan(0);
    expect(entry.refreshTokenExpired).toBe(true);
  });

  it('the disconnect dialog counts who keeps the instance, names three for an admin, and the disconnect runs', async () => {
    const asMember = await h.member.client.disconnect.preview.query({ connectionId: memberId });
    expect(asMember.otherConnections).toBe(MEMBERS + 1);
    expect(asMember.instanceWillBeRevoked).toBe(false);
    expect(asMember.texts.instanceNote).toBe(
      `The organization's connection and ${MEMBERS} other members' personal connections keep Google Workspace connected for your organization; only this connection is revoked.`,
    );
    const asAdmin = await h.admin.client.disconnect.preview.query({ connectionId: memberId });
    expect(asAdmin.texts.instanceNote).toBe(
      `The organization's connection, Member ${MEMBERS}'s personal connection, Member ${MEMBERS - 1}'s personal connection, Member ${MEMBERS - 2}'s personal connection and ${MEMBERS - 3} other members' personal connections keep Google Workspace connected for your organization; only this connection is revoked.`,
    );
    const { saga } = await h.member.client.disconnect.start.mutate({
      connectionId: memberId,
      confirm: true,
    });
    expect(saga.status).toBe('completed');
    const card = await google(h.member);
    expect(card.myConnection).toBeNull();
    expect(card.integrated).toBe(true);
    expect(card.userConnections).toBe(MEMBERS);
    // Its jobs are kept, disabled, and still listed first for the member, whose card offers to connect again.
    const jobs = await h.member.client.sync.listJobs.query({ instanceId });
    const kept = jobs.jobs.filter((j) => j.job.connectionId === memberId);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.every((j) => !j.job.isEnabled && j.connection?.status === 'revoked')).toBe(true);
  });

  it('the OAuth routes read only the caller’s slot: the member connects again, the viewer connects', async () => {
    const again = await connectOAuth(h, h.member, 'google', 'user', { consentAs: 'u-dana' });
    expect(again.outcome).toBe('connected');
    const viewer = await connectOAuth(h, h.viewer, 'google', 'user', { consentAs: 'u-bob' });
    expect(viewer.outcome).toBe('connected');
    // A reconnect reads the slot too: the admin's app-level connection is valid, nothing to reconnect.
    await expect(
      h.admin.client.integrations.oauthUrl.query({
        vendor: 'google',
        flow: 'app',
        action: 'reconnect',
      }),
    ).rejects.toMatchObject({ data: { code: 'CONFLICT' } });
    expect((await google(h.admin)).userConnections).toBe(MEMBERS + 2);
  });
});
