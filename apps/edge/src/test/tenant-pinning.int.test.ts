import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONSENT_AS } from '@otesse/fake-provider';
import { waitFor } from '@otesse/testing';
import { connectOAuth, startHarness, trpcErrorOf, type THarness } from './e2e-harness';

/**
 * An instance's synced data is one provider organization's (a QuickBooks company, a HubSpot portal): its record ids
 * are that tenant's sequences. A connect of another tenant would sync over the org's records, so it is refused on
 * every connect path, even after the instance was disconnected.
 */
describe('tenant pinning (whole stack as processes)', () => {
  let h: THarness;
  beforeAll(async () => {
    // No background syncs: the jobs' rows are read as the connects leave them.
    h = await startHarness({
      envFor: (s) => (s === 'sync-scheduler' ? { SYNC_ENGINE: 'false' } : {}),
    });
  });
  afterAll(async () => {
    await h?.fakeClient.consentAs(DEFAULT_CONSENT_AS);
    await h?.close();
  });

  const pinOf = async (vendor: string) =>
    (
      await h.db.query<{ tenant_id: string | null; status: string }>(
        `select tenant_id, status from connection.integration_instance where org_id = $1 and vendor = $2`,
        [h.orgId, vendor],
      )
    )[0];
  const connectionsOf = async (userId: string) =>
    (
      await h.db.query<{ n: string }>(
        `select count(*) as n from connection.integration_connection
          where org_id = $1 and vendor = 'quickbooks' and user_id = $2`,
        [h.orgId, userId],
      )
    )[0]!.n;
  const jobsOf = async (connectionId: string) =>
    (
      await h.db.query<{ enabled: boolean }>(
        `select is_enabled as enabled from sync.sync_job where connection_id = $1`,
        [connectionId],
      )
    ).map((j) => j.enabled);

  it("refuses another company's account on the org's QuickBooks, revokes its tokens and audits the attempt; after a disconnect too", async () => {
    const admin = await connectOAuth(h, h.admin, 'quickbooks', 'app', { consentAs: 'u-alice' });
    expect(admin.outcome).toBe('connected');
    expect(await pinOf('quickbooks')).toEqual({ tenant_id: 'acme', status: 'connected' });

    // A member signs in to a company of their own (globex): nothing is stored, its tokens are revoked.
    const before = await connectionsOf(h.member.id);
    const carol = await connectOAuth(h, h.member, 'quickbooks', 'user', { consentAs: 'u-carol' });
    expect(carol).toMatchObject({ outcome: 'refused:tenant_mismatch', connectionId: undefined });
    expect(await connectionsOf(h.member.id)).toBe(before);
    const carolsTokens = await h.fakeClient.listTokens({ userId: 'u-carol' });
    expect(carolsTokens.length).toBeGreaterThan(0);
    await waitFor(async () =>
      (await h.fakeClient.listTokens({ userId: 'u-carol' })).every((t) => t.status === 'revoked')
        ? true
        : undefined,
    );
    const attempt = await waitFor(async () =>
      (
        await h.admin.client.audit.list.query({
          filters: { action: 'connection.connect_failed', provider: 'quickbooks' },
        })
      ).entries.find((e) => e.details['reason'] === 'tenant_mismatch'),
    );
    expect(attempt).toMatchObject({
      actorUserId: h.member.id,
      outcome: 'failure',
      details: { level: 'user', expectedTenant: 'acme', attemptedTenant: 'globex' },
    });

    // A colleague of the same company connects beside the admin.
    const bob = await connectOAuth(h, h.member, 'quickbooks', 'user', { consentAs: 'u-bob' });
    expect(bob.outcome).toBe('connected');

    // Both disconnected: the instance is revoked, its data kept, and still the company's.
    for (const [who, id] of [
      [h.member, bob.connectionId!],
      [h.admin, admin.connectionId!],
    ] as const) {
      const { saga } = await who.client.disconnect.start.mutate({
        connectionId: id,
        confirm: true,
      });
      expect(saga?.status).toBe('completed');
    }
    expect(await pinOf('quickbooks')).toEqual({ tenant_id: 'acme', status: 'revoked' });
    expect(
      (await connectOAuth(h, h.admin, 'quickbooks', 'app', { consentAs: 'u-carol' })).outcome,
    ).toBe('refused:tenant_mismatch');
    expect(await pinOf('quickbooks')).toEqual({ tenant_id: 'acme', status: 'revoked' });

    // Bob connects again: his slot's jobs are his again, kept disabled (seed 000).
    const bobAgain = await connectOAuth(h, h.member, 'quickbooks', 'user', { consentAs: 'u-bob' });
    expect(bobAgain.outcome).toBe('connected');
    expect(await jobsOf(bobAgain.connectionId!)).toEqual([false, false]);
    // The app slot's last connection as an earlier version could have left it, of another company: its jobs are
    // that company's, never handed to the new connection, which gets fresh ones.
    await h.db.query(
      `update connection.integration_connection set tenant_id = 'globex' where id = $1`,
      [admin.connectionId],
    );
    const adminAgain = await connectOAuth(h, h.admin, 'quickbooks', 'app', {
      consentAs: 'u-alice',
    });
    expect(adminAgain.outcome).toBe('connected');
    expect(await jobsOf(adminAgain.connectionId!)).toEqual([true, true]);
    expect(await jobsOf(admin.connectionId!)).toEqual([false, false]);
  });

  it('keeps a pinned instance on its subdomain, even once disconnected', async () => {
    await h.admin.client.integrations.configureInstance.mutate({
      vendor: 'servicenow',
      subdomain: 'acme',
    });
    const sn = await connectOAuth(h, h.admin, 'servicenow', 'app', { consentAs: 'u-alice' });
    expect(sn.outcome).toBe('connected');
    expect((await pinOf('servicenow'))?.tenant_id).toBe('acme.service-now.com');
    await h.admin.client.disconnect.start.mutate({ connectionId: sn.connectionId!, confirm: true });
    expect(
      await trpcErrorOf(
        h.admin.client.integrations.configureInstance.mutate({
          vendor: 'servicenow',
          subdomain: 'globex',
        }),
      ),
    ).toMatchObject({ code: 'CONFLICT', data: { reason: 'tenant_pinned' } });
    expect(
      (await connectOAuth(h, h.admin, 'servicenow', 'app', { consentAs: 'u-alice' })).outcome,
    ).toBe('connected');
  });
});
