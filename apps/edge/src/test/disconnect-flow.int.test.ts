import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@otesse/testing';
import {
  DISCONNECT_SAGA,
  disconnectSaga,
  disconnectSubject,
  type TDisconnectInput,
  type TDisconnectInputV1,
} from '../sagas/disconnect.saga';
import {
  connectOAuth,
  startEdgeReplica,
  startHarness,
  trpcErrorOf,
  type THarness,
} from './e2e-harness';
import { expectDisconnectedOnce, seedSyncedData, streamEvents } from './disconnect-helpers';

/** Issue 5 done-when 1, 2, 7, 9: the seed's disconnection flow, end to end, checked in every service's tables. */
describe('disconnect saga (whole stack as processes)', () => {
  let h: THarness;
  let syncEngine = false;
  /** Restarts the scheduler with its engine on or off. */
  const restartScheduler = async (engine: boolean): Promise<void> => {
    syncEngine = engine;
    await h.stack.kill('sync-scheduler', 'SIGTERM');
    await h.stack.start('sync-scheduler');
  };
  beforeAll(async () => {
    // Background syncs would rewrite the seeded references mid-test: the engine is covered by its own tests, and
    // runs here only while a test needs a sync (the reconnect test restarts the scheduler with it).
    h = await startHarness({
      envFor: (s) => (s === 'sync-scheduler' && !syncEngine ? { SYNC_ENGINE: 'false' } : {}),
    });
    await h.admin.client.integrations.configureInstance.mutate({
      vendor: 'servicenow',
      subdomain: 'acme',
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  const auditFor = async (connectionId: string, action = 'connection.disconnected') =>
    (
      await h.admin.client.audit.list.query({ filters: { action: action as never }, limit: 200 })
    ).entries.filter((e) => e.targets.connectionId === connectionId);

  it('runs the seed flow for an OAuth provider: every status and every retention row', async () => {
    const { connectionId } = await connectOAuth(h, h.admin, 'servicenow', 'app');
    const conn = (await h.admin.client.integrations.list.query()).find(
      (i) => i.provider.key === 'servicenow',
    )!;
    const instanceId = conn.instance!.id;
    await seedSyncedData(h.db, h.orgId, instanceId, connectionId!, 25);
    const tokens = await h.fakeClient.listTokens({ instance: 'acme' });

    const preview = await h.admin.client.disconnect.preview.query({ connectionId: connectionId! });
    expect(preview.texts.title).toBe('Disconnect ServiceNow?');
    expect(preview.texts.body).toBe(
      'This will revoke access and delete all stored credentials. Any active sync jobs will stop. Previously synced data will be kept but marked as stale.',
    );
    expect(preview.activeSyncJobs).toBe(2);
    expect(preview.texts.jobsWarning).toBe('2 active sync jobs will be disabled.');
    expect(preview.instanceWillBeRevoked).toBe(true);
    expect(
      preview.texts.dependentWarnings.some((w) => w.startsWith('Disconnecting may affect ')),
    ).toBe(true);
    // The preview changed nothing.
    expect(
      (
        await h.db.query(`select status from connection.integration_connection where id = $1`, [
          connectionId,
        ])
      )[0],
    ).toEqual({ status: 'connected' });

    expect(
      (
        await trpcErrorOf(
          h.admin.client.disconnect.start.mutate({
            connectionId: connectionId!,
            confirm: false as true,
          }),
        )
      ).code,
    ).toBe('BAD_REQUEST');
    const { saga } = await h.admin.client.disconnect.start.mutate({
      connectionId: connectionId!,
      confirm: true,
    });
    expect(saga.status).toBe('completed');
    expect(saga.steps.map((s) => s.name)).toEqual([
      'lock',
      'disable-sync-jobs',
      'revoke-tokens',
      'destroy-credentials',
      'update-statuses',
      'mark-references-stale',
      'mark-instance-references-stale',
      'audit',
      'publish-event',
    ]);
    // Its instance's last connection: the lock held the instance, so the references were marked instance-wide
    // beside the statuses, and the after-the-fact instance mark had nothing to do.
    expect(
      saga.steps.filter((st) => st.name.startsWith('mark-')).map((st) => [st.name, st.status]),
    ).toEqual([
      ['mark-references-stale', 'succeeded'],
      ['mark-instance-references-stale', 'skipped'],
    ]);
    expect(saga.result).toMatchObject({ instanceRevoked: true, referencesMarkedStale: 25 });
    // The dialog's words for what the steps did: the instance's references were marked; ServiceNow revoked.
    expect(saga.steps.map((st) => [st.name, st.note])).toEqual(
      expect.arrayContaining([
        ['revoke-tokens', null],
        ['mark-references-stale', 'scope_instance'],
      ]),
    );

    // Step 2: jobs kept, disabled. Step 4: ciphertext destroyed, soft-deleted.
    const jobs = await h.db.query<{ is_enabled: boolean }>(
      `select is_enabled from sync.sync_job where connection_id = $1`,
      [connectionId],
    );
    expect(jobs.length).toBe(2);
    expect(jobs.every((j) => !j.is_enabled)).toBe(true);
    const creds = await h.db.query<Record<string, unknown>>(
      `select * from vault.credential where connection_id = $1`,
      [connectionId],
    );
    expect(creds.length).toBe(2);
    for (const c of creds) {
      expect(c).toMatchObject({ ciphertext: '', is_deleted: true, is_active: false });
      expect(c['wrapped_data_key']).toBe('');
    }
    // Step 3: the provider saw the refresh and the access token revoked, separately.
    for (const t of tokens) {
      const status = await h.fakeClient.tokenStatus(t.token);
      expect(status.status).toBe('revoked');
    }
    const revocations = (await h.fakeClient.getState()).revocations.filter((r) =>
      tokens.some((t) => t.token === r.token),
    );
    expect(revocations.length).toBeGreaterThanOrEqual(2);
    // Step 5: statuses; the instance row is kept.
    const [status] = await h.db.query<Record<string, string | boolean>>(
      `select c.status as connection, i.status as instance, w.status as webhook, hl.status as health, hl.checks_enabled
         from connection.integration_connection c join connection.integration_instance i on i.id = c.instance_id
         left join connection.webhook_endpoint w on w.instance_id = i.id left join connection.integration_health hl on hl.instance_id = i.id
        where c.id = $1`,
      [connectionId],
    );
    expect(status).toEqual({
      connection: 'revoked',
      instance: 'revoked',
      webhook: 'disabled',
      health: 'unknown',
      checks_enabled: false,
    });
    // Step 6 and retention: synced data kept in full, references kept and stale, mappings kept.
    const [kept] = await h.db.query<{
      records: string;
      stale: string;
      synced: string;
      mappings: string;
    }>(
      `select (select count(*) from sync.synced_record where instance_id = $1) as records,
              (select count(*) from sync.external_reference_state where instance_id = $1 and status = 'stale') as stale,
              (select count(*) from sync.external_reference_state where instance_id = $1 and status = 'synced') as synced,
              (select count(*) from sync.field_mapping where instance_id = $1) as mappings`,
      [instanceId],
    );
    expect(kept).toEqual({
      records: '25',
      stale: '25',
      synced: '0',
      mappings: expect.not.stringMatching(/^0$/),
    });
    // Step 7: the audit entry says who, which provider, revocation, counts, IP.
    const [entry] = await waitFor(async () => {
      const e = await auditFor(connectionId!);
      return e.length ? e : undefined;
    });
    expect(entry).toMatchObject({
      actorUserId: h.admin.id,
      provider: 'servicenow',
      outcome: 'success',
      details: expect.objectContaining({
        revocationSucceeded: true,
        syncJobsDisabled: 2,
        credentialsDeleted: 2,
        // Every reference of the instance turned stale by this disconnect, counted once.
        referencesMarkedStale: 25,
      }),
    });
    expect(entry!.ip).toBeTruthy();
    // And the event for other Otesse services.
    const events = await streamEvents<{
      connectionId: string;
      occurredAt: string;
      level: string;
      externalAccountId: string | null;
      credentialsDeleted: number;
      referencesMarkedStale: number;
    }>(h.nc, 'integrations.connection.disconnected', (e) => e.connectionId === connectionId);
    expect(events).toHaveLength(1);
    expect(events[0]!.credentialsDeleted).toBe(2);
    expect(events[0]!.referencesMarkedStale).toBe(25);
    // A subscriber can tell the slot and order the event by when the connection was revoked (the statuses' commit,
    // on the database's clock), not by when the event happened to be published.
    const [revoked] = await h.db.query<{ revoked_at: Date; external_account_id: string | null }>(
      `select revoked_at, external_account_id from "connection".integration_connection where id = $1`,
      [connectionId],
    );
    expect(new Date(events[0]!.occurredAt).getTime()).toBe(revoked!.revoked_at.getTime());
    expect(events[0]).toMatchObject({
      level: 'app',
      externalAccountId: revoked!.external_account_id,
    });
    // The catalogue offers Connect again.
    const after = (await h.admin.client.integrations.list.query()).find(
      (i) => i.provider.key === 'servicenow',
    )!;
    expect(after.integrated).toBe(false);
    expect(after.appConnection).toBeNull();
  });

  it('disconnects Postmark: the key is destroyed and the Email Builder loses its senders', async () => {
    const conn = await h.admin.client.integrations.connectApiKey.mutate({
      vendor: 'postmark',
      apiKey: 'pm-server-token-abcdef123',
      senderEmails: ['hello@acme.test'],
    });
    expect((await h.member.client.emailBuilder.fromOptions.query()).map((o) => o.email)).toEqual([
      'hello@acme.test',
    ]);
    const preview = await h.admin.client.disconnect.preview.query({ connectionId: conn.id });
    expect(preview.texts.dependentWarnings).toContain('Disconnecting may affect Email Builder.');
    expect(preview.revocation.supported).toBe(false);
    const { saga } = await h.admin.client.disconnect.start.mutate({
      connectionId: conn.id,
      confirm: true,
    });
    expect(saga.status).toBe('completed');
    expect(saga.result).toMatchObject({ credentialsDeleted: 1, revocationSupported: false });
    // Seed step 3 is for OAuth providers only: the step says it did not apply rather than "done".
    expect(saga.steps.find((st) => st.name === 'revoke-tokens')).toMatchObject({
      status: 'succeeded',
      note: 'not_applicable',
    });
    expect(await h.member.client.emailBuilder.fromOptions.query()).toEqual([]);
    const [cred] = await h.db.query(
      `select ciphertext, is_deleted from vault.credential where connection_id = $1`,
      [conn.id],
    );
    expect(cred).toEqual({ ciphertext: '', is_deleted: true });
  });

  it.each([
    ['500', 'a 500'],
    ['hang', 'a hang'],
    ['down', 'an unreachable endpoint'],
  ])(
    'completes when revocation answers %s (%s): warning in the saga and the audit, credentials destroyed',
    async (mode) => {
      await h.fakeClient.configure({ revokeMode: mode as never });
      try {
        const { connectionId } = await connectOAuth(h, h.member, 'google', 'user');
        const started = Date.now();
        const { saga } = await h.member.client.disconnect.start.mutate({
          connectionId: connectionId!,
          confirm: true,
          waitMs: 20_000,
        });
        expect(saga.status).toBe('completed');
        expect(Date.now() - started).toBeLessThan(12_000);
        expect(saga.result).toMatchObject({ revocationSucceeded: false, credentialsDeleted: 2 });
        expect(saga.steps.find((st) => st.name === 'revoke-tokens')?.note).toBe('failed');
        expect((saga.result as { warnings: string[] }).warnings.length).toBeGreaterThan(0);
        const [entry] = await waitFor(async () => {
          const e = await auditFor(connectionId!);
          return e.length ? e : undefined;
        });
        expect(entry!.outcome).toBe('partial');
        expect(entry!.details).toMatchObject({ revocationSucceeded: false });
        // Seed: "Logged as warning, disconnection continues": the warning is in the audit entry too.
        expect((entry!.details as { warnings?: string[] }).warnings?.length).toBeGreaterThan(0);
      } finally {
        await h.fakeClient.configure({ revokeMode: 'ok' });
      }
    },
  );

  it('20 concurrent disconnects of one connection: one saga, one audit entry, one event', async () => {
    const { connectionId } = await connectOAuth(h, h.viewer, 'google', 'user');
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        h.viewer.client.disconnect.start.mutate({
          connectionId: connectionId!,
          confirm: true,
          waitMs: 10_000,
        }),
      ),
    );
    expect(new Set(results.map((r) => r.sagaId)).size).toBe(1);
    expect(results.every((r) => r.saga.status === 'completed')).toBe(true);
    await expectDisconnectedOnce(h, connectionId!);
    // A later request answers with the same, finished saga.
    const again = await h.viewer.client.disconnect.start.mutate({
      connectionId: connectionId!,
      confirm: true,
    });
    expect(again.sagaId).toBe(results[0]!.sagaId);
  });

  it('edge cases: admin on behalf of a user, permissions, other users keep the instance, last one revokes it', async () => {
    const m = await connectOAuth(h, h.member, 'salesforce', 'user');
    const v = await connectOAuth(h, h.viewer, 'salesforce', 'user');
    const [sf] = await h.db.query<{ instance_id: string }>(
      `select instance_id from connection.integration_connection where id = $1`,
      [m.connectionId],
    );
    await seedSyncedData(h.db, h.orgId, sf!.instance_id, m.connectionId!, 3, 'sf-m');
    await seedSyncedData(h.db, h.orgId, sf!.instance_id, v.connectionId!, 2, 'sf-v');
    // A member cannot disconnect someone else's connection; another org cannot even see it.
    expect(
      (
        await trpcErrorOf(
          h.member.client.disconnect.preview.query({ connectionId: v.connectionId! }),
        )
      ).code,
    ).toBe('FORBIDDEN');
    expect(
      (
        await trpcErrorOf(
          h.otherAdmin.client.disconnect.start.mutate({
            connectionId: v.connectionId!,
            confirm: true,
          }),
        )
      ).code,
    ).toBe('NOT_FOUND');

    // The admin (settings.edit) disconnects the member's connection: the viewer keeps the instance connected.
    const preview = await h.admin.client.disconnect.preview.query({
      connectionId: m.connectionId!,
    });
    expect(preview.instanceStaysConnected).toBe(true);
    const first = await h.admin.client.disconnect.start.mutate({
      connectionId: m.connectionId!,
      confirm: true,
    });
    expect(first.saga.status).toBe('completed');
    // Not the instance's last connection: only this connection's references are marked, and the dialog says so.
    expect(first.saga.steps.find((st) => st.name === 'mark-references-stale')?.note).toBe(
      'scope_connection',
    );
    // The member finds the admin's disconnect of their connection among their operations; the viewer (settings.view)
    // among the org's; the member does not see what is neither theirs nor on their connection.
    const mine = await h.member.client.operations.list.query({ type: 'disconnect' });
    expect(mine.items.find((o) => o.id === first.sagaId)).toMatchObject({
      actorUserId: h.admin.id,
      ownerUserId: h.member.id,
      actor: { email: 'admin@acme.test' },
      owner: { email: 'member@acme.test' },
      status: 'completed',
    });
    expect(
      mine.items.every((o) => o.actorUserId === h.member.id || o.ownerUserId === h.member.id),
    ).toBe(true);
    expect(
      (await h.viewer.client.operations.list.query({ type: 'disconnect' })).items.map((o) => o.id),
    ).toContain(first.sagaId);
    const rows = await h.db.query<{ id: string; status: string }>(
      `select c.id, c.status from connection.integration_connection c where c.vendor = 'salesforce' and c.org_id = $1`,
      [h.orgId],
    );
    expect(rows.find((r) => r.id === m.connectionId)?.status).toBe('revoked');
    expect(rows.find((r) => r.id === v.connectionId)?.status).toBe('connected');
    const instance = (await h.viewer.client.integrations.list.query()).find(
      (i) => i.provider.key === 'salesforce',
    )!.instance!;
    expect(instance.status).toBe('connected');
    const [entry] = await waitFor(async () => {
      const e = await auditFor(m.connectionId!);
      return e.length ? e : undefined;
    });
    expect(entry).toMatchObject({ actorUserId: h.admin.id, onBehalfOfUserId: h.member.id });
    // The instance stays connected: only the references the member's connection synced are stale, the viewer's
    // are still current.
    const [refs] = await h.db.query<{ member_stale: string; viewer_synced: string }>(
      `select count(*) filter (where connection_id = $2 and status = 'stale') as member_stale,
              count(*) filter (where connection_id = $3 and status = 'synced') as viewer_synced
         from sync.external_reference_state where instance_id = $1`,
      [instance.id, m.connectionId, v.connectionId],
    );
    expect(refs).toEqual({ member_stale: '3', viewer_synced: '2' });

    // The last connection revokes the instance, whose row is kept.
    const last = await h.viewer.client.disconnect.start.mutate({
      connectionId: v.connectionId!,
      confirm: true,
    });
    // A saga's timeline has operations.list's scope: the member reads the admin's disconnect of their connection,
    // not the viewer's own (NOT_FOUND, as another org's), neither as a status nor as a stream; the admin reads both.
    expect((await h.member.client.disconnect.status.query({ sagaId: first.sagaId })).status).toBe(
      'completed',
    );
    expect(
      (await trpcErrorOf(h.member.client.disconnect.status.query({ sagaId: last.sagaId }))).code,
    ).toBe('NOT_FOUND');
    const stream = await fetch(
      `${h.stack.edgeUrl}/trpc/disconnect.progress?input=${encodeURIComponent(JSON.stringify({ sagaId: last.sagaId }))}`,
      { headers: { authorization: `Bearer ${h.member.token}`, accept: 'text/event-stream' } },
    );
    const streamed = await stream.text();
    expect(streamed).toContain('NOT_FOUND');
    expect(streamed).not.toContain(v.connectionId!);
    expect((await h.admin.client.disconnect.status.query({ sagaId: last.sagaId })).status).toBe(
      'completed',
    );
    // A token in the URL (tRPC's connectionParams) is not taken: URLs end up in access logs.
    const viaUrl = await fetch(
      `${h.stack.edgeUrl}/trpc/disconnect.progress?input=${encodeURIComponent(JSON.stringify({ sagaId: last.sagaId }))}&connectionParams=${encodeURIComponent(JSON.stringify({ token: h.admin.token }))}`,
      { headers: { accept: 'text/event-stream' } },
    );
    const refused = await viaUrl.text();
    expect(refused).toContain('UNAUTHORIZED');
    expect(refused).not.toContain(v.connectionId!);
    const [inst] = await h.db.query(
      `select status from connection.integration_instance where id = $1`,
      [instance.id],
    );
    expect(inst).toEqual({ status: 'revoked' });
  });

  it('the lock step authorizes: refusals change nothing, never block the owner, and joining needs the same right', async () => {
    const status = async (id: string) =>
      (
        await h.db.query<{ status: string }>(
          `select status from connection.integration_connection where id = $1`,
          [id],
        )
      )[0]?.status;
    const own = await connectOAuth(h, h.viewer, 'hubspot', 'user');
    const id = own.connectionId!;
    // Someone else's connection without settings.edit: FORBIDDEN; another org's: NOT_FOUND. Nothing changed,
    // nothing audited.
    const refused = await trpcErrorOf(
      h.member.client.disconnect.start.mutate({ connectionId: id, confirm: true }),
    );
    expect([refused.code, refused.message]).toEqual([
      'FORBIDDEN',
      "disconnecting another user's or the organization's connection needs settings.edit",
    ]);
    expect(
      (
        await trpcErrorOf(
          h.otherAdmin.client.disconnect.start.mutate({ connectionId: id, confirm: true }),
        )
      ).code,
    ).toBe('NOT_FOUND');
    expect(await status(id)).toBe('connected');
    const jobs = await h.db.query<{ is_enabled: boolean }>(
      `select is_enabled from sync.sync_job where connection_id = $1`,
      [id],
    );
    expect(jobs.length).toBeGreaterThan(0);
    expect(jobs.every((j) => j.is_enabled)).toBe(true);
    expect(await auditFor(id, 'connection.disconnect_failed')).toEqual([]);

    // Refused attempts racing the owner's: the owner's disconnect goes through, the others stay refused.
    const outcomes = await Promise.allSettled([
      ...Array.from({ length: 4 }, () =>
        h.member.client.disconnect.start.mutate({ connectionId: id, confirm: true }),
      ),
      h.otherAdmin.client.disconnect.start.mutate({ connectionId: id, confirm: true }),
      h.viewer.client.disconnect.start.mutate({ connectionId: id, confirm: true }),
    ]);
    const owner = outcomes[5]!;
    expect(owner.status).toBe('fulfilled');
    const done = (owner as PromiseFulfilledResult<{ sagaId: string; saga: { status: string } }>)
      .value;
    expect(done.saga.status).toBe('completed');
    expect(await status(id)).toBe('revoked');
    const codes = outcomes
      .slice(0, 5)
      .map((o) =>
        o.status === 'rejected' ? (o.reason as { data?: { code?: string } }).data?.code : 'ok',
      );
    expect(codes).toEqual(['FORBIDDEN', 'FORBIDDEN', 'FORBIDDEN', 'FORBIDDEN', 'NOT_FOUND']);
    // Asking again: the owner (and an admin) join the finished saga; the member may not see it.
    const again = await h.viewer.client.disconnect.start.mutate({
      connectionId: id,
      confirm: true,
    });
    expect([again.sagaId, again.joined, again.saga.connectionId]).toEqual([done.sagaId, true, id]);
    expect(
      (await h.admin.client.disconnect.start.mutate({ connectionId: id, confirm: true })).sagaId,
    ).toBe(done.sagaId);
    expect(
      (
        await trpcErrorOf(
          h.member.client.disconnect.start.mutate({ connectionId: id, confirm: true }),
        )
      ).code,
    ).toBe('FORBIDDEN');
    // The audit writer may still be catching up: one entry once it has, and one event.
    await expectDisconnectedOnce(h, id);
  });

  it('a saga of definition version 1 (in flight at an upgrade) still finishes on its own definition', async () => {
    const { connectionId } = await connectOAuth(h, h.viewer, 'xero', 'user');
    const [conn] = await h.db.query<{ instance_id: string }>(
      `select instance_id from connection.integration_connection where id = $1`,
      [connectionId],
    );
    // An edge replica in this process drives it, as the upgraded edge's recovery would.
    const edge = await startEdgeReplica(h);
    try {
      const v1 = disconnectSaga(edge.deps, 1);
      const { sagaId } = await edge.deps.sagas.start(v1, {
        subjectKey: disconnectSubject(h.orgId, connectionId!),
        orgId: h.orgId,
        actorUserId: h.viewer.id,
        // Version 1's input: the target looked up by the edge before the saga (its definition reads it so).
        input: {
          connectionId: connectionId!,
          instanceId: conn!.instance_id,
          vendor: 'xero',
          ownerUserId: h.viewer.id,
          level: 'user',
          subdomain: null,
          ip: null,
          traceId: 'v1-compat-0001',
        } satisfies TDisconnectInputV1 as unknown as TDisconnectInput,
      });
      const saga = await edge.deps.sagas.waitFor(sagaId, 15_000);
      expect([saga?.type, saga?.definitionVersion, saga?.status]).toEqual([
        DISCONNECT_SAGA,
        1,
        'completed',
      ]);
      expect(saga?.steps.map((s) => [s.name, s.status])).toEqual([
        ['lock', 'succeeded'],
        ['disable-sync-jobs', 'succeeded'],
        ['revoke-tokens', 'succeeded'],
        ['destroy-credentials', 'succeeded'],
        ['update-statuses', 'succeeded'],
        ['mark-references-stale', 'succeeded'],
        ['audit', 'succeeded'],
        ['publish-event', 'succeeded'],
      ]);
      const [after] = await h.db.query<{ status: string }>(
        `select status from connection.integration_connection where id = $1`,
        [connectionId],
      );
      expect(after).toEqual({ status: 'revoked' });
      const [entry] = await waitFor(async () => {
        const e = await auditFor(connectionId!);
        return e.length ? e : undefined;
      });
      expect(entry).toMatchObject({ provider: 'xero', actorUserId: h.viewer.id });
      // The API shows it like any other: the owner's request joins it.
      const again = await h.viewer.client.disconnect.start.mutate({
        connectionId: connectionId!,
        confirm: true,
      });
      expect([again.sagaId, again.joined]).toEqual([sagaId, true]);
    } finally {
      await edge.stop();
    }
  });

  it('reconnects after a disconnect: the instance is reused, configuration and references kept', async () => {
    const before = await h.db.query<{ id: string }>(
      `select id from connection.integration_instance where vendor = 'servicenow' and org_id = $1`,
      [h.orgId],
    );
    const { outcome } = await connectOAuth(h, h.admin, 'servicenow', 'app');
    expect(outcome).toBe('connected');
    const list = (await h.admin.client.integrations.list.query()).find(
      (i) => i.provider.key === 'servicenow',
    )!;
    expect(list.instance!.id).toBe(before[0]!.id);
    expect(list.instance!.status).toBe('connected');
    const [refs] = await h.db.query<{ stale: string; mappings: string }>(
      `select (select count(*) from sync.external_reference_state where instance_id = $1 and status = 'stale') as stale,
              (select count(*) from sync.field_mapping where instance_id = $1) as mappings`,
      [list.instance!.id],
    );
    expect(refs!.stale).toBe('25');
    // The jobs disabled by the disconnect came back with the instance, still disabled until the user enables them.
    const jobs = await h.db.query<{ is_enabled: boolean; connection_id: string }>(
      `select is_enabled, connection_id from sync.sync_job where instance_id = $1`,
      [list.instance!.id],
    );
    expect(jobs.length).toBe(2);
    expect(jobs.every((j) => !j.is_enabled && j.connection_id === list.appConnection!.id)).toBe(
      true,
    );
    expect(Number(refs!.mappings)).toBeGreaterThan(0);

    // The user re-enables the contacts job and it runs: after that successful sync, the stale references of the
    // resource read `synced` again (seed: "updated to synced after the next successful sync").
    const { jobs: listed } = await h.admin.client.sync.listJobs.query({
      instanceId: list.instance!.id,
    });
    const contacts = listed.find((j) => j.job.resource === 'contacts')!.job;
    await h.admin.client.sync.enableJob.mutate({ jobId: contacts.id });
    await h.admin.client.sync.runNow.mutate({ jobId: contacts.id });
    await restartScheduler(true);
    try {
      const finished = await waitFor(
        async () => {
          const { executions } = await h.admin.client.sync.listExecutions.query({
            jobId: contacts.id,
          });
          return executions.find((e) => e.status !== 'running');
        },
        { timeoutMs: 30_000, what: 'the re-enabled job to run' },
      );
      expect(finished).toMatchObject({ status: 'succeeded' });
    } finally {
      await restartScheduler(false);
    }
    // Every reference of the instance, the 25 the disconnect made stale among them (ct-1…ct-25).
    const [after] = await h.db.query<{ stale: string; seeded_synced: string }>(
      `select count(*) filter (where status = 'stale') as stale,
              count(*) filter (where status = 'synced' and external_id = any($2::text[])) as seeded_synced
         from sync.external_reference_state where instance_id = $1`,
      [list.instance!.id, Array.from({ length: 25 }, (_, i) => `ct-${i + 1}`)],
    );
    expect(after).toEqual({ stale: '0', seeded_synced: '25' });
  });

  it('a saga of definition version 2 (in flight at an upgrade) still finishes on its own definition', async () => {
    const { connectionId } = await connectOAuth(h, h.viewer, 'quickbooks', 'user');
    const [conn] = await h.db.query<{ instance_id: string }>(
      `select instance_id from connection.integration_connection where id = $1`,
      [connectionId],
    );
    await seedSyncedData(h.db, h.orgId, conn!.instance_id, connectionId!, 4);
    const edge = await startEdgeReplica(h);
    try {
      const { sagaId } = await edge.deps.sagas.start(disconnectSaga(edge.deps, 2), {
        subjectKey: disconnectSubject(h.orgId, connectionId!),
        orgId: h.orgId,
        actorUserId: h.viewer.id,
        input: {
          connectionId: connectionId!,
          mayManageOthers: false,
          ip: null,
          traceId: 'v2-compat-0001',
        },
      });
      const saga = await edge.deps.sagas.waitFor(sagaId, 15_000);
      expect([saga?.definitionVersion, saga?.status]).toEqual([2, 'completed']);
      // Version 2's shape: the connection's references beside the statuses, the instance's after them.
      expect(
        saga?.steps.filter((st) => st.name.startsWith('mark-')).map((st) => [st.name, st.status]),
      ).toEqual([
        ['mark-references-stale', 'succeeded'],
        ['mark-instance-references-stale', 'succeeded'],
      ]);
      expect(saga?.result).toMatchObject({ instanceRevoked: true, referencesMarkedStale: 4 });
      // Its lock held the instance too (the connection service is upgraded): the statuses lifted the hold.
      expect(
        await h.db.query(
          `select revoking_saga_id from connection.integration_instance where id = $1`,
          [conn!.instance_id],
        ),
      ).toEqual([{ revoking_saga_id: null }]);
    } finally {
      await edge.stop();
    }
  });

  it('two users disconnect one instance at once: revoked once, every reference stale and counted once', async () => {
    const [a, b] = await Promise.all([
      connectOAuth(h, h.admin, 'slack', 'user'),
      connectOAuth(h, h.member, 'slack', 'user'),
    ]);
    const [inst] = await h.db.query<{ instance_id: string }>(
      `select instance_id from connection.integration_connection where id = $1`,
      [a.connectionId],
    );
    await seedSyncedData(h.db, h.orgId, inst!.instance_id, a.connectionId!, 7);
    await seedSyncedData(h.db, h.orgId, inst!.instance_id, b.connectionId!, 5, 'b');
    const [sa, sb] = await Promise.all([
      h.admin.client.disconnect.start.mutate({ connectionId: a.connectionId!, confirm: true }),
      h.member.client.disconnect.start.mutate({ connectionId: b.connectionId!, confirm: true }),
    ]);
    const sagas = [sa.saga, sb.saga];
    expect(sagas.map((x) => x.status)).toEqual(['completed', 'completed']);
    // Exactly one of them revoked the instance, whichever way their locks fell.
    expect(sagas.filter((x) => x.result?.['instanceRevoked'] === true)).toHaveLength(1);
    const total = sagas.reduce((n, x) => n + Number(x.result?.['referencesMarkedStale'] ?? 0), 0);
    expect(total).toBe(12);
    const [state] = await h.db.query<{ stale: string; synced: string; instance: string }>(
      `select (select count(*) from sync.external_reference_state where instance_id = $1 and status = 'stale') as stale,
              (select count(*) from sync.external_reference_state where instance_id = $1 and status = 'synced') as synced,
              (select status from connection.integration_instance where id = $1) as instance`,
      [inst!.instance_id],
    );
    expect(state).toEqual({ stale: '12', synced: '0', instance: 'revoked' });
  });
});
