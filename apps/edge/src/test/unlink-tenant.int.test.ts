import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONSENT_AS } from '@otesse/fake-provider';
import { waitFor } from '@otesse/testing';
import { connectOAuth, startHarness, trpcErrorOf, type THarness } from './e2e-harness';
import { seedSyncedData, streamEvents } from './disconnect-helpers';

/**
 * An admin who connected the wrong provider organization (another QuickBooks company) unlinks the instance from it:
 * the instance's synced data is that company's, so it is erased, the pin cleared, and the next connect may be of
 * another company. Everything else of the instance's history stays.
 */
describe('unlinking an instance from its tenant (whole stack as processes)', () => {
  let h: THarness;
  beforeAll(async () => {
    // No background syncs: the data is seeded, and the jobs' rows are read as the steps leave them.
    h = await startHarness({
      envFor: (s) => (s === 'sync-scheduler' ? { SYNC_ENGINE: 'false' } : {}),
    });
  });
  afterAll(async () => {
    await h?.fakeClient.consentAs(DEFAULT_CONSENT_AS);
    await h?.close();
  });

  const instanceOf = async (vendor: string) =>
    (
      await h.db.query<{ id: string; tenant_id: string | null; status: string }>(
        `select id, tenant_id, status from connection.integration_instance where org_id = $1 and vendor = $2`,
        [h.orgId, vendor],
      )
    )[0]!;
  const dataOf = async (instanceId: string) =>
    (
      await h.db.query<{ records: string; refs: string }>(
        `select (select count(*) from sync.synced_record where instance_id = $1) as records,
                (select count(*) from sync.external_reference where instance_id = $1) as refs`,
        [instanceId],
      )
    )[0]!;
  const auditOf = async (action: 'instance.tenant_unlinked' | 'instance.unlink_failed') =>
    (await h.admin.client.audit.list.query({ filters: { action, provider: 'quickbooks' } }))
      .entries;

  it("erases the wrong company's data and clears the pin once every connection is disconnected; the next connect may be of another company", async () => {
    const alice = await connectOAuth(h, h.admin, 'quickbooks', 'app', { consentAs: 'u-alice' });
    expect(alice.outcome).toBe('connected');
    const instance = await instanceOf('quickbooks');
    expect(instance.tenant_id).toBe('acme');
    await seedSyncedData(h.db, h.orgId, instance.id, alice.connectionId!, 40);
    // Another org's instance of the same vendor, with data of its own: never touched.
    const other = await connectOAuth(h, h.otherAdmin, 'quickbooks', 'app', {
      consentAs: 'u-alice',
    });
    expect(other.outcome).toBe('connected');
    const [otherInstance] = await h.db.query<{ id: string }>(
      `select id from connection.integration_instance where org_id = $1 and vendor = 'quickbooks'`,
      [h.otherOrgId],
    );
    await seedSyncedData(h.db, h.otherOrgId, otherInstance!.id, other.connectionId!, 7);

    // The dialog: what goes, what stays, and what stops it now (a live connection).
    const live = await h.admin.client.integrations.unlinkTenantPreview.query({
      vendor: 'quickbooks',
    });
    expect(live).toMatchObject({
      instanceId: instance.id,
      tenantId: 'acme',
      canUnlink: false,
      blockedBy: 'connections_live',
      liveConnections: 1,
      erases: { records: 40, references: 40 },
    });
    expect(
      await trpcErrorOf(
        h.admin.client.integrations.unlinkTenant.mutate({
          vendor: 'quickbooks',
          confirmTenantId: 'acme',
        }),
      ),
    ).toMatchObject({ code: 'CONFLICT', data: { reason: 'instance_in_use' } });
    expect(await dataOf(instance.id)).toEqual({ records: '40', refs: '40' });

    const { saga: disconnect } = await h.admin.client.disconnect.start.mutate({
      connectionId: alice.connectionId!,
      confirm: true,
    });
    expect(disconnect.status).toBe('completed');
    const jobsBefore = await h.db.query<{ id: string; is_enabled: boolean }>(
      `select id, is_enabled from sync.sync_job where instance_id = $1 order by id`,
      [instance.id],
    );
    expect(jobsBefore.length).toBeGreaterThan(0);

    // Members may not; a mistyped company erases nothing (and the attempt is audited).
    expect(
      await trpcErrorOf(
        h.member.client.integrations.unlinkTenantPreview.query({ vendor: 'quickbooks' }),
      ),
    ).toMatchObject({ code: 'FORBIDDEN' });
    expect(
      await trpcErrorOf(
        h.member.client.integrations.unlinkTenant.mutate({
          vendor: 'quickbooks',
          confirmTenantId: 'acme',
        }),
      ),
    ).toMatchObject({ code: 'FORBIDDEN' });
    expect(
      await trpcErrorOf(
        h.admin.client.integrations.unlinkTenant.mutate({
          vendor: 'quickbooks',
          confirmTenantId: 'acme-typo',
        }),
      ),
    ).toMatchObject({ code: 'PRECONDITION_FAILED', data: { reason: 'tenant_changed' } });
    expect(await dataOf(instance.id)).toEqual({ records: '40', refs: '40' });
    expect((await instanceOf('quickbooks')).tenant_id).toBe('acme');
    // Both refused attempts (live connection, mistyped company) are in the org's log.
    const refused = await waitFor(async () => {
      const entries = await auditOf('instance.unlink_failed');
      return entries.length === 2 ? entries : undefined;
    });
    expect(refused.map((e) => e.details['reason']).sort()).toEqual([
      'instance_in_use',
      'tenant_changed',
    ]);
    expect(refused.every((e) => e.actorUserId === h.admin.id && e.outcome === 'failure')).toBe(
      true,
    );
    expect(
      await trpcErrorOf(
        h.admin.client.integrations.unlinkTenant.mutate({
          vendor: 'quickbooks',
          confirmTenantId: '',
        }),
      ),
    ).toMatchObject({ code: 'BAD_REQUEST' });

    const ready = await h.admin.client.integrations.unlinkTenantPreview.query({
      vendor: 'quickbooks',
    });
    expect(ready).toMatchObject({ canUnlink: true, blockedBy: null, liveConnections: 0 });

    const { saga } = await h.admin.client.integrations.unlinkTenant.mutate({
      vendor: 'quickbooks',
      confirmTenantId: 'acme',
    });
    expect(saga.status).toBe('completed');
    expect(saga.steps.map((s) => [s.name, s.status])).toEqual([
      ['hold', 'succeeded'],
      ['erase-data', 'succeeded'],
      ['unpin-tenant', 'succeeded'],
      ['audit', 'succeeded'],
      ['publish-event', 'succeeded'],
    ]);

    // Erased: this instance's records and references; the other org's untouched.
    expect(await dataOf(instance.id)).toEqual({ records: '0', refs: '0' });
    expect(await dataOf(otherInstance!.id)).toEqual({ records: '7', refs: '7' });
    expect(await instanceOf('quickbooks')).toMatchObject({ tenant_id: null, status: 'revoked' });
    // Kept: the jobs (still disabled), the connection's history.
    expect(
      await h.db.query(
        `select id, is_enabled from sync.sync_job where instance_id = $1 order by id`,
        [instance.id],
      ),
    ).toEqual(jobsBefore.map((j) => ({ id: j.id, is_enabled: false })));
    const [history] = await h.db.query<{ status: string; tenant_id: string }>(
      `select status, tenant_id from connection.integration_connection where id = $1`,
      [alice.connectionId],
    );
    expect(history).toEqual({ status: 'revoked', tenant_id: 'acme' });

    // Audited once, announced once.
    const entry = await waitFor(async () => (await auditOf('instance.tenant_unlinked'))[0]);
    expect(entry).toMatchObject({
      actorUserId: h.admin.id,
      outcome: 'success',
      details: { previousTenantId: 'acme', recordsErased: 40, referencesErased: 40 },
    });
    const events = await waitFor(async () => {
      const found = await streamEvents<{ sagaId: string }>(
        h.nc,
        'integrations.instance.unlinked',
        (e) => e.sagaId === saga.id,
      );
      return found.length > 0 ? found : undefined;
    });
    expect(events).toEqual([
      expect.objectContaining({
        orgId: h.orgId,
        instanceId: instance.id,
        vendor: 'quickbooks',
        previousTenantId: 'acme',
        recordsErased: 40,
        referencesErased: 40,
        actorUserId: h.admin.id,
      }),
    ]);

    // Nothing left to unlink.
    expect(
      await h.admin.client.integrations.unlinkTenantPreview.query({ vendor: 'quickbooks' }),
    ).toMatchObject({ tenantId: null, canUnlink: false, blockedBy: 'not_pinned' });

    // The other company now connects, pins the instance, and gets jobs of its own (not the old company's).
    const carol = await connectOAuth(h, h.admin, 'quickbooks', 'app', { consentAs: 'u-carol' });
    expect(carol.outcome).toBe('connected');
    expect(await instanceOf('quickbooks')).toMatchObject({
      id: instance.id,
      tenant_id: 'globex',
      status: 'connected',
    });
    const carolsJobs = await h.db.query<{ is_enabled: boolean }>(
      `select is_enabled from sync.sync_job where connection_id = $1`,
      [carol.connectionId],
    );
    expect(carolsJobs.length).toBeGreaterThan(0);
    expect(carolsJobs.every((j) => j.is_enabled)).toBe(true);
    // And the first company is now the one refused.
    expect(
      (await connectOAuth(h, h.member, 'quickbooks', 'user', { consentAs: 'u-bob' })).outcome,
    ).toBe('refused:tenant_mismatch');

    // Linked again, it unlinks again: a new saga, not the completed one (whose instance was pinned since).
    await h.admin.client.disconnect.start.mutate({
      connectionId: carol.connectionId!,
      confirm: true,
    });
    const again = await h.admin.client.integrations.unlinkTenant.mutate({
      vendor: 'quickbooks',
      confirmTenantId: 'globex',
    });
    expect(again).toMatchObject({ joined: false, saga: { status: 'completed' } });
    expect(again.sagaId).not.toBe(saga.id);
    expect(await instanceOf('quickbooks')).toMatchObject({ tenant_id: null, status: 'revoked' });
    // Asked once more, with nothing linked: refused, nothing to unlink.
    expect(
      await trpcErrorOf(
        h.admin.client.integrations.unlinkTenant.mutate({
          vendor: 'quickbooks',
          confirmTenantId: 'globex',
        }),
      ),
    ).toMatchObject({ code: 'PRECONDITION_FAILED', data: { reason: 'not_pinned' } });
  });

  it("counts every live connection, members' too, and names an Atlassian site by its name once they are disconnected", async () => {
    const sam = await connectOAuth(h, h.admin, 'confluence', 'app');
    expect(sam.outcome).toBe('connected');
    const mia = await connectOAuth(h, h.member, 'confluence', 'user');
    expect(mia.outcome).toBe('connected');
    // The org's connection and a member's personal one, whom the admin's own view does not list.
    expect(
      await h.admin.client.integrations.unlinkTenantPreview.query({ vendor: 'confluence' }),
    ).toMatchObject({ canUnlink: false, blockedBy: 'connections_live', liveConnections: 2 });
    for (const c of [sam, mia]) {
      await h.admin.client.disconnect.start.mutate({
        connectionId: c.connectionId!,
        confirm: true,
      });
    }
    expect(
      await h.admin.client.integrations.unlinkTenantPreview.query({ vendor: 'confluence' }),
    ).toMatchObject({
      tenantId: 'acme',
      siteName: 'Acme',
      canUnlink: true,
      blockedBy: null,
      liveConnections: 0,
    });
  });

  it("another org's instance is NOT_FOUND, and an instance never pinned has nothing to unlink", async () => {
    expect(
      await trpcErrorOf(
        h.otherAdmin.client.integrations.unlinkTenantPreview.query({ vendor: 'postmark' }),
      ),
    ).toMatchObject({ code: 'NOT_FOUND' });
    const conn = await h.admin.client.integrations.connectApiKey.mutate({
      vendor: 'postmark',
      apiKey: 'pm-server-token-unlink',
      senderEmails: ['billing@acme.test'],
    });
    expect(conn.status).toBe('connected');
    expect(
      await trpcErrorOf(
        h.admin.client.integrations.unlinkTenant.mutate({
          vendor: 'postmark',
          confirmTenantId: 'anything',
        }),
      ),
    ).toMatchObject({ code: 'PRECONDITION_FAILED', data: { reason: 'not_pinned' } });
  });
});
