import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckPolicy, connect, Events, type NatsConnection } from 'nats';
import { AppError } from '@otesse/contracts';
import { builtinWebhookSignature, signWebhook } from '@otesse/providers';
import { Bus } from '@otesse/messaging';
import { NATS_CONFIG_FILE, NATS_DEV_OTHER_USERS, NATS_DEV_USERS, waitFor } from '@otesse/testing';
import { connectOAuth, startHarness, type THarness } from './e2e-harness';

/** Least privilege on NATS (issue 8 slice): every service as its own user, and the whole flow still works. */
describe('NATS permissions (tools/nats/authorization.conf)', () => {
  let h: THarness;
  const extra: NatsConnection[] = [];
  beforeAll(async () => {
    h = await startHarness({
      natsConfigFile: NATS_CONFIG_FILE,
      envFor: (s) => ({
        NATS_USER: NATS_DEV_USERS[s].user,
        NATS_PASSWORD: NATS_DEV_USERS[s].password,
        // Sweeps of connects that will never finish, often enough for a test to watch one.
        ...(s === 'connection' ? { PENDING_CONNECT_SWEEP_MS: '300' } : {}),
        // Ended sagas' idempotency records released a second after they ended.
        ...(s === 'edge'
          ? { SAGA_RECORD_RETENTION_MS: '1000', SAGA_RECORD_RELEASE_INTERVAL_MS: '300' }
          : {}),
      }),
    });
  });
  afterAll(async () => {
    await Promise.all(extra.map((nc) => nc.close().catch(() => undefined)));
    await h?.close();
  });

  const as = async (service: keyof typeof NATS_DEV_USERS) => {
    const nc = await connect({
      servers: h.nats.url,
      user: NATS_DEV_USERS[service].user,
      pass: NATS_DEV_USERS[service].password,
      inboxPrefix:
        service === 'sync-scheduler'
          ? '_INBOX_sync_scheduler'
          : `_INBOX_${NATS_DEV_USERS[service].user}`,
    });
    extra.push(nc);
    return nc;
  };

  const asOther = async (who: keyof typeof NATS_DEV_OTHER_USERS) => {
    const { user, password } = NATS_DEV_OTHER_USERS[who];
    const nc = await connect({
      servers: h.nats.url,
      user,
      pass: password,
      inboxPrefix: `_INBOX_${user}`,
    });
    extra.push(nc);
    return nc;
  };

  /** The subjects the server refused `nc` to publish to (its permissions violations, as the client hears them). */
  const refusedPublishes = (nc: NatsConnection): Set<string> => {
    const refused = new Set<string>();
    void (async () => {
      for await (const s of nc.status()) {
        const ctx = (s as { permissionContext?: { operation: string; subject: string } })
          .permissionContext;
        if (s.type === Events.Error && ctx?.operation === 'publish') refused.add(ctx.subject);
      }
    })();
    return refused;
  };
  const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

  it('connects, syncs and disconnects with every service under its own user', async () => {
    const { outcome, connectionId } = await connectOAuth(h, h.admin, 'google', 'app');
    expect(outcome).toBe('connected');
    const { saga } = await h.admin.client.disconnect.start.mutate({
      connectionId: connectionId!,
      confirm: true,
    });
    expect(saga.status).toBe('completed');
    await waitFor(async () => {
      const { entries } = await h.admin.client.audit.list.query({
        filters: { action: 'connection.disconnected' },
      });
      return entries.some((e) => e.targets.connectionId === connectionId);
    });
    // The edge may tell each service to forget the saga's idempotency records once it ended.
    await waitFor(
      async () =>
        (
          await h.db.query(
            `select 1 from edge.saga where id = $1 and records_released_at is not null`,
            [saga.id],
          )
        ).length === 1,
      { timeoutMs: 15_000, what: "the saga's records released" },
    );
    const [left] = await h.db.query<{ n: string }>(
      `select (select count(*) from connection.processed_command where starts_with(key, $1))
            + (select count(*) from sync.processed_command where starts_with(key, $1))
            + (select count(*) from vault.processed_command where starts_with(key, $1)) as n`,
      [`${saga.id}:`],
    );
    expect(Number(left!.n)).toBe(0);
  });

  it('receives a signed webhook delivery with every service under its own user: checked, published, consumed', async () => {
    const { outcome } = await connectOAuth(h, h.admin, 'quickbooks', 'app');
    expect(outcome).toBe('connected');
    await h.admin.client.integrations.setWebhookSecret.mutate({
      vendor: 'quickbooks',
      secret: 'qb-verifier-token-perms-01',
    });
    const { endpoint } = await h.admin.client.integrations.webhookEndpoint.query({
      vendor: 'quickbooks',
    });
    const body = '{"eventNotifications":[]}';
    const scheme = builtinWebhookSignature('quickbooks');
    const res = await fetch(endpoint!.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [scheme.header]: signWebhook(scheme, 'qb-verifier-token-perms-01', body, null),
      },
      body,
    });
    expect(res.status).toBe(202);
    // The scheduler's durable consumer (its own user's permissions) took it: the jobs were asked to run.
    await waitFor(
      async () => {
        const list = await h.admin.client.integrations.list.query();
        const instanceId = list.find((i) => i.provider.key === 'quickbooks')!.instance!.id;
        const { jobs } = await h.admin.client.sync.listJobs.query({ instanceId });
        return jobs.length > 0 && jobs.every((j) => j.lastExecution?.trigger === 'manual');
      },
      { timeoutMs: 20_000, what: 'the webhook-requested runs' },
    );
    // And the connection service's (its own user's) recorded the endpoint's last delivery.
    await waitFor(
      async () =>
        (await h.admin.client.integrations.webhookEndpoint.query({ vendor: 'quickbooks' })).endpoint
          ?.lastDeliveryAt ?? false,
      { what: "the endpoint's last delivery" },
    );
    // A refused delivery is recorded on the endpoint: the edge may send that too.
    const refused = await fetch(endpoint!.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [scheme.header]: 'bm90LWl0' },
      body,
    });
    expect(refused.status).toBe(401);
    await waitFor(
      async () =>
        (await h.admin.client.integrations.webhookEndpoint.query({ vendor: 'quickbooks' })).endpoint
          ?.lastRefusal?.reason === 'signature_mismatch',
      { what: "the endpoint's last refusal" },
    );
    // Replacing the secret with a grace, and stopping the old one: the edge's requests are allowed.
    const replaced = await h.admin.client.integrations.setWebhookSecret.mutate({
      vendor: 'quickbooks',
      secret: 'qb-verifier-token-perms-02',
      keepPreviousHours: 1,
    });
    expect(replaced.previousSecret).not.toBeNull();
    await expect(
      h.admin.client.integrations.expirePreviousWebhookSecret.mutate({ vendor: 'quickbooks' }),
    ).resolves.toEqual({ expired: true });
  });

  it("the sync-scheduler cannot call the vault's destroy; nothing is destroyed", async () => {
    const { connectionId } = await connectOAuth(h, h.member, 'google', 'user');
    const nc = await as('sync-scheduler');
    const payload = new TextEncoder().encode(
      JSON.stringify({ orgId: h.orgId, connectionId, idempotencyKey: 'attack-1' }),
    );
    await expect(
      nc.request('vault.credentials.destroy', payload, { timeout: 1_000 }),
    ).rejects.toThrow();
    const live = await h.db.query(
      `select 1 from vault.credential where connection_id = $1 and is_active`,
      [connectionId],
    );
    expect(live.length).toBe(2);
  });

  it("the edge cannot subscribe to the vault's subjects nor read another service's replies", async () => {
    const nc = await as('edge');
    const errors: string[] = [];
    // A denied subscription reports the server's permissions violation to its callback.
    const onError = (err: Error | null) => {
      if (err) errors.push(err.message);
    };
    nc.subscribe('vault.>', { callback: onError });
    nc.subscribe('_INBOX_vault.>', { callback: onError });
    await waitFor(() => errors.length >= 2, { timeoutMs: 5_000 });
    expect(errors.every((e) => /permissions violation/i.test(e))).toBe(true);
    expect(errors.join('\n')).toMatch(/vault\.>/);
    expect(errors.join('\n')).toMatch(/_INBOX_vault/);
  });

  it("the edge is refused the vault's plaintext tokens, key rotation and the schedulers' cancel signal", async () => {
    // Any connection: the server refuses the subject before the vault could look.
    const connectionId = randomUUID();
    const nc = await as('edge');
    const refused = refusedPublishes(nc);
    const ask = (subject: string, payload: unknown) =>
      nc.request(subject, json(payload), { timeout: 1_000 }).then(
        () => 'answered',
        () => 'no answer',
      );
    expect(await ask('vault.access-tokens.get', { orgId: h.orgId, connectionId })).toBe(
      'no answer',
    );
    expect(await ask('vault.keys.rotate', {})).toBe('no answer');
    expect(await ask('vault.credentials.describe', { orgId: h.orgId, connectionId })).toBe(
      'no answer',
    );
    nc.publish('sync-scheduler.signals.cancel', json({ executionIds: [connectionId] }));
    await nc.flush();
    // The server itself refused each one (not a vault slow to answer).
    await waitFor(() => refused.size >= 4, { timeoutMs: 5_000 });
    expect([...refused].sort()).toEqual([
      'sync-scheduler.signals.cancel',
      'vault.access-tokens.get',
      'vault.credentials.describe',
      'vault.keys.rotate',
    ]);
  });

  it("only a stream's owner changes its limits: the edge, the vault and the connection service may not shrink AUDIT", async () => {
    for (const service of ['edge', 'credential-vault', 'connection'] as const) {
      const nc = await as(service);
      const jsm = await nc.jetstreamManager({ timeout: 1_500, checkAPI: false });
      // What a compromised publisher would do to purge the events the audit service has not read yet.
      await expect(jsm.streams.update('AUDIT', { max_msgs: 1 }), service).rejects.toThrow();
      // Creating it again with its one configuration is allowed (whoever starts first creates it).
      expect((await jsm.streams.info('AUDIT')).config.max_msgs, service).toBe(-1);
    }
    // The same update from the owner goes through (so the refusals above are the permissions, not the request).
    const owner = await (await as('audit')).jetstreamManager({ checkAPI: false });
    expect((await owner.streams.update('AUDIT', { max_msgs: 1_000_000 })).config.max_msgs).toBe(
      1_000_000,
    );
    await owner.streams.update('AUDIT', { max_msgs: -1 });
    expect((await owner.streams.info('AUDIT')).config.max_msgs).toBe(-1);
  });

  it("the connection service cannot publish the edge's disconnected event", async () => {
    const nc = await as('connection');
    const refused = refusedPublishes(nc);
    nc.publish('integrations.connection.disconnected', json({}));
    await nc.flush();
    await waitFor(() => refused.has('integrations.connection.disconnected'), { timeoutMs: 5_000 });
  });

  it('the operator rotates the vault keys, and may do nothing else', async () => {
    const nc = await asOther('operator');
    const refused = refusedPublishes(nc);
    const reply = await new Bus(nc).request('vault.keys.rotate', {});
    expect(reply).toMatchObject({ rewrapped: expect.any(Number), remaining: 0 });
    nc.publish('vault.credentials.destroy', json({}));
    await nc.flush();
    await waitFor(() => refused.has('vault.credentials.destroy'), { timeoutMs: 5_000 });
  });

  it("another Otesse service (authorization.conf's template) reads INTEGRATIONS with its own durable only", async () => {
    // The connects of the tests above are on the stream.
    const nc = await asOther('billing');
    const jsm = await nc.jetstreamManager({ checkAPI: false });
    await jsm.consumers.add('INTEGRATIONS', {
      durable_name: 'billing-connections',
      ack_policy: AckPolicy.Explicit,
      filter_subject: 'integrations.connection.connected',
    });
    const consumer = await nc.jetstream().consumers.get('INTEGRATIONS', 'billing-connections');
    const msg = await consumer.next({ expires: 5_000 });
    expect(msg?.subject).toBe('integrations.connection.connected');
    msg?.ack();
    // Not another service's durable: it would take the vault's abandoned connects away from it.
    const refused = refusedPublishes(nc);
    nc.publish(
      '$JS.API.CONSUMER.MSG.NEXT.INTEGRATIONS.vault-abandoned-connects',
      json({ batch: 1 }),
    );
    nc.publish('vault.access-tokens.get', json({}));
    await nc.flush();
    await waitFor(() => refused.size >= 2, { timeoutMs: 5_000 });
  });

  it('leaves no credential behind when an edge dies between the vault and the activation', async () => {
    // Exactly what an edge had done for a callback when it was killed: the connection created, the tokens stored.
    const edge = new Bus(await as('edge'));
    const { connection } = await edge.request('connection.connections.create', {
      orgId: h.orgId,
      vendor: 'google',
      level: 'app',
      userId: h.admin.id,
      externalAccountId: 'u-admin',
      // The tenant of the org's Google (an earlier test connected it): the instance is pinned to it.
      tenantId: 'acme',
      details: {},
    });
    const store = () =>
      edge.request('vault.credentials.store', {
        orgId: h.orgId,
        connectionId: connection.id,
        vendor: 'google',
        credentials: [
          { kind: 'access_token', value: 'at-of-a-dead-connect', expiresAt: null },
          { kind: 'refresh_token', value: 'rt-of-a-dead-connect', expiresAt: null },
        ],
      });
    await store();
    // Its slot stays taken while the connect could still finish (said as such: nothing is connected yet).
    expect((await connectOAuth(h, h.admin, 'google', 'app')).outcome).toBe(
      'failed:connect_in_progress',
    );
    await h.db.query(
      `update connection.integration_connection set created_at = now() - interval '3 minutes' where id = $1`,
      [connection.id],
    );

    // The connection service abandons it; the vault, told over JetStream, destroys what it held.
    const rows = await waitFor(async () => {
      const r = await h.db.query<{ ciphertext: string; is_deleted: boolean; is_active: boolean }>(
        `select ciphertext, is_deleted, is_active from vault.credential where connection_id = $1`,
        [connection.id],
      );
      return r.length === 2 && r.every((c) => c.is_deleted) ? r : undefined;
    });
    expect(rows.every((c) => c.ciphertext === '' && !c.is_active)).toBe(true);
    const [state] = await h.db.query<{ status: string; error_reason: string }>(
      `select status, error_reason from connection.integration_connection where id = $1`,
      [connection.id],
    );
    expect(state).toEqual({ status: 'error', error_reason: 'connect_expired' });
    // A store still on its way from the dead edge is refused: nothing can land after the clean-up.
    const late = await store().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(late).toBeInstanceOf(AppError);
    expect(late).toMatchObject({ code: 'CONFLICT', reason: 'connection_closed' });
    expect(
      await h.db.query(
        `select 1 from vault.credential where connection_id = $1 and not is_deleted`,
        [connection.id],
      ),
    ).toHaveLength(0);

    // The admin sees it in the audit log, as the system's doing on their behalf.
    const entry = await waitFor(async () => {
      const { entries } = await h.admin.client.audit.list.query({
        filters: { action: 'connection.connect_failed' },
      });
      return entries.find((e) => e.targets.connectionId === connection.id);
    });
    expect(entry).toMatchObject({
      actorUserId: null,
      onBehalfOfUserId: h.admin.id,
      outcome: 'failure',
      details: { reason: 'connect_expired' },
    });
    // The instance stays as it was (the member's connection keeps it connected), and the admin connects again.
    const [instance] = await h.db.query<{ status: string }>(
      `select i.status from connection.integration_instance i
         join connection.integration_connection c on c.instance_id = i.id where c.id = $1`,
      [connection.id],
    );
    expect(instance?.status).toBe('connected');
    expect((await connectOAuth(h, h.admin, 'google', 'app')).outcome).toBe('connected');
  });
});
