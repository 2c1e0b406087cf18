import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONSENT_AS } from '@otesse/fake-provider';
import { waitFor } from '@otesse/testing';
import { connectOAuth, startHarness, type THarness } from './e2e-harness';
import { seedSyncedData, streamEvents } from './disconnect-helpers';

/** The unlink saga when the services (and the edge driving it) fail mid-way: it still ends once, and whole. */
describe('unlinking under faults (services as processes)', () => {
  let h: THarness;
  beforeAll(async () => {
    h = await startHarness({
      envFor: (s) =>
        s === 'sync-scheduler'
          ? { SYNC_ENGINE: 'false' }
          : // A short lease: the restarted edge resumes the killed one's saga quickly.
            s === 'edge'
            ? { SAGA_LEASE_MS: '1500', SAGA_RECOVERY_INTERVAL_MS: '250' }
            : {},
    });
  });
  afterAll(async () => {
    await h?.fakeClient.consentAs(DEFAULT_CONSENT_AS);
    await h?.close();
  });

  it('the scheduler away as the unlink starts, then the edge SIGKILLed while the erase runs: the restarted edge finishes it, erased once, audited once, announced once', async () => {
    const alice = await connectOAuth(h, h.admin, 'quickbooks', 'app', { consentAs: 'u-alice' });
    expect(alice.outcome).toBe('connected');
    const [instance] = await h.db.query<{ id: string }>(
      `select id from connection.integration_instance where org_id = $1 and vendor = 'quickbooks'`,
      [h.orgId],
    );
    await seedSyncedData(h.db, h.orgId, instance!.id, alice.connectionId!, 30);
    const { saga: disconnected } = await h.admin.client.disconnect.start.mutate({
      connectionId: alice.connectionId!,
      confirm: true,
    });
    expect(disconnected.status).toBe('completed');

    await h.stack.kill('sync-scheduler');
    // Holds the instance's job rows, which the erase locks first: once the scheduler is back, its erase waits here.
    const locker = new pg.Client({ connectionString: h.db.adminUrl });
    await locker.connect();
    try {
      await locker.query('begin');
      await locker.query(`select 1 from sync.sync_job where instance_id = $1 for update`, [
        instance!.id,
      ]);
      const { sagaId } = await h.admin.client.integrations.unlinkTenant.mutate({
        vendor: 'quickbooks',
        confirmTenantId: 'acme',
        waitMs: 0,
      });
      // The pivot meets no responders and waits for the scheduler (not compensated: nothing is erased yet).
      await waitFor(async () => {
        const s = await h.admin.client.disconnect.status.query({ sagaId });
        return (s.steps.find((x) => x.name === 'erase-data')?.attempts ?? 0) >= 2;
      });
      await h.stack.start('sync-scheduler');
      await waitFor(
        async () =>
          (
            await h.db.query(
              `select 1 from pg_stat_activity
                where wait_event_type = 'Lock' and query like '%sync_job%for update%' and pid <> $1`,
              [(locker as unknown as { processID: number }).processID],
            )
          ).length > 0,
        { timeoutMs: 20_000, what: 'the erase to wait on the jobs lock' },
      );
      await h.stack.kill('edge', 'SIGKILL');
      // The erase commits with no edge to hear it; the restarted edge's retry of the pivot replays its answer.
      await locker.query('commit');
      await h.stack.start('edge');
      const done = await waitFor(
        async () => {
          const s = await h.admin.client.disconnect.status.query({ sagaId }).catch(() => undefined);
          return s?.status === 'completed' ? s : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      expect(done.status).toBe('completed');
      expect(done.steps.find((x) => x.name === 'erase-data')?.status).toBe('succeeded');
    } finally {
      await locker.end().catch(() => undefined);
    }

    const [left] = await h.db.query<{ records: string; refs: string; tenant: string | null }>(
      `select (select count(*) from sync.synced_record where instance_id = $1) as records,
              (select count(*) from sync.external_reference where instance_id = $1) as refs,
              (select tenant_id from connection.integration_instance where id = $1) as tenant`,
      [instance!.id],
    );
    expect(left).toEqual({ records: '0', refs: '0', tenant: null });
    // Once: one entry with the counts the one erase answered, one event.
    await waitFor(
      async () =>
        (
          await h.admin.client.audit.list.query({
            filters: { action: 'instance.tenant_unlinked', provider: 'quickbooks' },
          })
        ).entries.length > 0,
    );
    await new Promise((r) => setTimeout(r, 1_000));
    const entries = (
      await h.admin.client.audit.list.query({
        filters: { action: 'instance.tenant_unlinked', provider: 'quickbooks' },
      })
    ).entries;
    expect(entries).toHaveLength(1);
    expect(entries[0]?.details).toMatchObject({ recordsErased: 30, referencesErased: 30 });
    const events = await streamEvents<{ instanceId: string; recordsErased: number }>(
      h.nc,
      'integrations.instance.unlinked',
      (e) => e.instanceId === instance!.id,
    );
    expect(events).toHaveLength(1);
    expect(events[0]?.recordsErased).toBe(30);
  });
});
