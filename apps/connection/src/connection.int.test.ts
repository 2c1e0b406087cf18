import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import {
  connectionContracts,
  type TAuditEvent,
  type TConnectionAbandonedEvent,
  type TConnectionConnectedEvent,
  type TRequestInput,
  type TWebhookRefusalReason,
} from '@otesse/contracts';
import type { Bus } from '@otesse/messaging';
import { errorOf, refuseStreamPublishes, waitFor, type TTestDatabase } from '@otesse/testing';
import { metricsText } from '@otesse/telemetry';
import { startConnectionTestBed, type TConnectionTestBed } from './test/connection-test-bed';

describe('connection service (real Postgres + NATS)', () => {
  let bed: TConnectionTestBed;
  let db: TTestDatabase;
  let bus: Bus;
  let nc: NatsConnection;

  beforeAll(async () => {
    bed = await startConnectionTestBed(
      'connection-test',
      // Sweeps often, so the tests see expired connects abandoned within a second.
      { pendingSweep: { intervalMs: 200 } },
    );
    ({ db, bus, nc } = bed);
  });
  afterAll(async () => {
    await bed?.close();
  });

  const create = (
    orgId: string,
    over: Partial<TRequestInput<'connection.connections.create'>> = {},
  ) =>
    bus.request('connection.connections.create', {
      orgId,
      vendor: 'servicenow',
      level: 'app',
      userId: randomUUID(),
      externalAccountId: 'acct-1',
      tenantId: 'acme.service-now.com',
      ...over,
    });
  const activate = (orgId: string, connectionId: string, eventId: string = randomUUID()) =>
    bus.request('connection.connections.activate', { orgId, connectionId, eventId });

  /** The connected events stored for a connection, read back from the INTEGRATIONS stream. */
  async function connectedEvents(
    connectionId: string,
  ): Promise<{ event: TConnectionConnectedEvent; msgId: string | undefined }[]> {
    const jsm = await nc.jetstreamManager();
    const { state } = await jsm.streams.info('INTEGRATIONS');
    const out = [];
    for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
      const m = await jsm.streams.getMessage('INTEGRATIONS', { seq }).catch(() => undefined);
      if (!m || m.subject !== 'integrations.connection.connected') continue;
      const event = m.json<TConnectionConnectedEvent>();
      if (event.connectionId === connectionId)
        out.push({ event, msgId: m.header?.get('Nats-Msg-Id') });
    }
    return out;
  }

  /** Messages of one subject in a stream whose payload is about `connectionId`, with their msgIDs. */
  async function streamMessages<T extends { connectionId?: string; targets?: unknown }>(
    stream: 'INTEGRATIONS' | 'AUDIT',
    subject: string,
    connectionId: string,
  ): Promise<{ body: T; msgId: string | undefined }[]> {
    const jsm = await nc.jetstreamManager();
    const { state } = await jsm.streams.info(stream);
    const out = [];
    for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq }).catch(() => undefined);
      if (!m || m.subject !== subject) continue;
      const body = m.json<T>();
      const about =
        body.connectionId ?? (body.targets as { connectionId?: string } | undefined)?.connectionId;
      if (about === connectionId) out.push({ body, msgId: m.header?.get('Nats-Msg-Id') });
    }
    return out;
  }

  /** The connection and its instance as a disconnect of the instance's last connection leaves them (seed step 5). */
  const revokeAsDisconnectDoes = async (c: {
    connection: { id: string };
    instance: { id: string };
  }) => {
    await db.query(
      `update connection.integration_connection set status = 'revoked', revoked_at = now() where id = $1`,
      [c.connection.id],
    );
    await db.query(`update connection.integration_instance set status = 'revoked' where id = $1`, [
      c.instance.id,
    ]);
  };

  /** Waits until a stream holds at least one such message, then answers them all. */
  const messagesOnceThere = <T extends { connectionId?: string; targets?: unknown }>(
    stream: 'INTEGRATIONS' | 'AUDIT',
    subject: string,
    connectionId: string,
  ) =>
    waitFor(async () => {
      const found = await streamMessages<T>(stream, subject, connectionId);
      return found.length > 0 ? found : undefined;
    });

  /** A sample's value in this process's /metrics text (0 when absent). */
  async function metricValue(sample: string): Promise<number> {
    const line = (await metricsText()).split('\n').find((l) => l.startsWith(`${sample} `));
    return line ? Number(line.slice(sample.length + 1)) : 0;
  }

  async function rowCounts(): Promise<Record<string, string>> {
    const [row] = await db.query<Record<string, string>>(
      `select (select count(*) from connection.integration_instance) as instances,
              (select count(*) from connection.integration_connection) as connections,
              (select count(*) from connection.integration_health) as health,
              (select count(*) from connection.webhook_endpoint) as webhooks,
              (select max(updated_at)::text from connection.integration_instance) as i_updated,
              (select max(updated_at)::text from connection.integration_connection) as c_updated`,
    );
    return row!;
  }

  async function raw(subject: string, body: string): Promise<{ status: string; body: unknown }> {
    const msg = await nc.request(subject, new TextEncoder().encode(body), { timeout: 3_000 });
    return {
      status: msg.headers?.get('Nats-Service-Error-Code') ?? '',
      body: JSON.parse(new TextDecoder().decode(msg.data)) as unknown,
    };
  }

  it('answers get with exactly what the TypeScript mappers give (the SQL functions are their twins)', async () => {
    const orgId = randomUUID();
    const { connection } = await create(orgId);
    // Activation replies through toConnection / toInstance (health row, webhook, timestamps set).
    const activated = await activate(orgId, connection.id);
    // get answers through connection_json / instance_json (migration disconnect_functions).
    expect(
      await bus.request('connection.connections.get', { orgId, connectionId: connection.id }),
    ).toEqual(activated);
  });
  it('creates a pending connection, activates it, and publishes the connected event once', async () => {
    const orgId = randomUUID();
    const userId = randomUUID();
    const configured = await bus.request('connection.instances.configure', {
      orgId,
      vendor: 'servicenow',
      config: { subdomain: 'acme' },
    });
    expect(configured.instance).toMatchObject({
      status: 'pending',
      config: { subdomain: 'acme' },
      health: 'unknown',
      healthChecksEnabled: false,
    });

    const created = await create(orgId, { userId });
    expect(created.instance.id).toBe(configured.instance.id);
    expect(created.instance.status).toBe('pending');
    expect(created.connection).toMatchObject({
      status: 'pending',
      level: 'app',
      userId,
      vendor: 'servicenow',
      externalAccountId: 'acct-1',
      connectedAt: null,
      refreshTokenExpired: false,
    });

    const eventId = randomUUID();
    const activated = await activate(orgId, created.connection.id, eventId);
    expect(activated.connection.status).toBe('connected');
    expect(activated.connection.connectedAt).not.toBeNull();
    expect(activated.instance).toMatchObject({
      status: 'connected',
      health: 'healthy',
      healthChecksEnabled: true,
    });
    expect(activated.instance.healthCheckedAt).not.toBeNull();

    const got = await bus.request('connection.instances.get', { orgId, vendor: 'servicenow' });
    expect(got.connections.map((c) => c.status)).toEqual(['connected']);
    // Asked for one external account's connections only (is a grant still in use?).
    const of = async (externalAccountId: string) =>
      (
        await bus.request('connection.instances.get', {
          orgId,
          vendor: 'servicenow',
          externalAccountId,
        })
      ).connections.map((c) => c.id);
    expect(await of('acct-1')).toEqual([created.connection.id]);
    expect(await of('acct-2')).toEqual([]);
    expect(got.webhookEndpoint).toMatchObject({
      status: 'enabled',
      url: `/webhooks/servicenow/${created.instance.id}`,
      connectionId: created.connection.id,
    });

    const events = await connectedEvents(created.connection.id);
    expect(events).toHaveLength(1);
    expect(events[0]!.msgId).toBe(eventId);
    expect(events[0]!.event).toMatchObject({
      eventId,
      orgId,
      vendor: 'servicenow',
      instanceId: created.instance.id,
      connectionId: created.connection.id,
      level: 'app',
      userId,
      externalAccountId: 'acct-1',
      tenantId: 'acme.service-now.com',
      instanceReused: false,
      occurredAt: activated.connection.connectedAt,
    });

    // A retried activation answers the same and publishes nothing more (its event is out).
    const again = await activate(orgId, created.connection.id, eventId);
    expect(again.connection).toEqual(activated.connection);
    expect(await connectedEvents(created.connection.id)).toHaveLength(1);

    const listed = await bus.request('connection.integrations.list', { orgId });
    expect(listed.instances).toHaveLength(1);
    expect(listed.instances[0]!.connections.map((c) => c.id)).toEqual([created.connection.id]);
    const one = await bus.request('connection.connections.get', {
      orgId,
      connectionId: created.connection.id,
    });
    expect(one.connection).toEqual(activated.connection);
    expect(one.instance.status).toBe('connected');
  });

  it('reuses a revoked instance on reconnect: revoked → pending → connected, instanceReused', async () => {
    const orgId = randomUUID();
    const first = await create(orgId);
    await activate(orgId, first.connection.id);
    // What the disconnect saga leaves behind (seed step 5).
    await revokeAsDisconnectDoes(first);
    await db.query(
      `update connection.webhook_endpoint set status = 'disabled' where instance_id = $1`,
      [first.instance.id],
    );
    await db.query(
      `update connection.integration_health set status = 'unknown', checks_enabled = false where instance_id = $1`,
      [first.instance.id],
    );
    const before = await bus.request('connection.instances.get', { orgId, vendor: 'servicenow' });
    expect(before.instance?.status).toBe('revoked');
    expect(before.webhookEndpoint?.status).toBe('disabled');

    const second = await create(orgId);
    expect(second.instance.id).toBe(first.instance.id);
    expect(second.instance.status).toBe('pending');
    const eventId = randomUUID();
    const activated = await activate(orgId, second.connection.id, eventId);
    expect(activated.instance).toMatchObject({
      id: first.instance.id,
      status: 'connected',
      health: 'healthy',
      healthChecksEnabled: true,
    });
    const after = await bus.request('connection.instances.get', { orgId, vendor: 'servicenow' });
    expect(after.webhookEndpoint).toMatchObject({
      id: before.webhookEndpoint!.id,
      status: 'enabled',
      connectionId: second.connection.id,
    });
    expect(after.connections.map((c) => c.status)).toEqual(['revoked', 'connected']);
    const [event] = await connectedEvents(second.connection.id);
    expect(event?.event).toMatchObject({ eventId, instanceReused: true });
    // The first connect of the instance was no reuse.
    expect((await connectedEvents(first.connection.id))[0]?.event.instanceReused).toBe(false);
  });

  it('refuses a second app-level connect while one is pending or connected; a stale pending one does not block', async () => {
    const orgId = randomUUID();
    const first = await create(orgId);
    // Pending, not connected: the refusal says a connect is finishing, and when the slot frees up if it does not.
    const pendingConflict = await errorOf(create(orgId));
    expect(pendingConflict).toMatchObject({
      code: 'CONFLICT',
      reason: 'connect_in_progress',
      details: { connectionId: first.connection.id },
    });
    const { retryAfterSec } = (pendingConflict as { details: { retryAfterSec: number } }).details;
    expect(retryAfterSec).toBeGreaterThan(100);
    expect(retryAfterSec).toBeLessThanOrEqual(120);

    await db.query(
      `update connection.integration_connection set created_at = now() - interval '16 minutes' where id = $1`,
      [first.connection.id],
    );
    const second = await create(orgId);
    const stale = await bus.request('connection.connections.get', {
      orgId,
      connectionId: first.connection.id,
    });
    expect(stale.connection.status).toBe('error');
    // A stale connect can't be completed any more.
    expect(await errorOf(activate(orgId, first.connection.id))).toMatchObject({
      code: 'CONFLICT',
      reason: 'not_pending',
    });

    await activate(orgId, second.connection.id);
    expect(await errorOf(create(orgId))).toMatchObject({
      code: 'CONFLICT',
      reason: 'already_connected',
    });
    const [count] = await db.query<{ n: string }>(
      `select count(*) as n from connection.integration_connection where org_id = $1 and status in ('pending', 'connected')`,
      [orgId],
    );
    expect(count?.n).toBe('1');
  });

  it('lets exactly one of 20 concurrent app-level connects win', async () => {
    const orgId = randomUUID();
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => create(orgId, { vendor: 'confluence' })),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(19);
    for (const r of lost) {
      // The winner's connection is pending until its callback activates it.
      expect(r.reason).toMatchObject({ code: 'CONFLICT', reason: 'connect_in_progress' });
    }
    const rows = await db.query(
      `select c.id from connection.integration_connection c where c.org_id = $1`,
      [orgId],
    );
    expect(rows).toHaveLength(1);
    const instances = await db.query(
      `select id from connection.integration_instance where org_id = $1`,
      [orgId],
    );
    expect(instances).toHaveLength(1);
  });

  it('keeps user-level connections of different users side by side', async () => {
    const orgId = randomUUID();
    const alice = randomUUID();
    const bob = randomUUID();
    const a = await create(orgId, { level: 'user', userId: alice });
    const b = await create(orgId, { level: 'user', userId: bob });
    expect(b.instance.id).toBe(a.instance.id);
    await activate(orgId, a.connection.id);
    await activate(orgId, b.connection.id);
    // The org's app-level connection is another slot.
    const app = await create(orgId, { level: 'app', userId: alice });
    expect(app.connection.status).toBe('pending');
    expect(await errorOf(create(orgId, { level: 'user', userId: alice }))).toMatchObject({
      code: 'CONFLICT',
      reason: 'already_connected',
    });
    const got = await bus.request('connection.instances.get', { orgId, vendor: 'servicenow' });
    expect(got.instance?.status).toBe('connected');
    expect(
      got.connections.map((c) => [c.level, c.userId, c.status]).sort((x, y) => (x < y ? -1 : 1)),
    ).toEqual(
      [
        ['app', alice, 'pending'],
        ['user', alice, 'connected'],
        ['user', bob, 'connected'],
      ].sort((x, y) => (x < y ? -1 : 1)),
    );
  });

  it('abandons a pending connect and puts a revoked instance back as it was', async () => {
    const orgId = randomUUID();
    const first = await create(orgId);
    await activate(orgId, first.connection.id);
    await revokeAsDisconnectDoes(first);

    const retry = await create(orgId);
    expect(retry.instance.status).toBe('pending');
    const abandoned = await bus.request('connection.connections.abandon', {
      orgId,
      connectionId: retry.connection.id,
      reason: 'oauth_denied',
    });
    expect(abandoned.connection.status).toBe('error');
    const inst = await bus.request('connection.instances.get', { orgId, vendor: 'servicenow' });
    expect(inst.instance?.status).toBe('revoked');
    // Idempotent, and an abandoned connect can't be activated.
    const again = await bus.request('connection.connections.abandon', {
      orgId,
      connectionId: retry.connection.id,
      reason: 'oauth_denied',
    });
    expect(again.connection.status).toBe('error');
    expect(await errorOf(activate(orgId, retry.connection.id))).toMatchObject({
      code: 'CONFLICT',
      reason: 'not_pending',
    });

    // A connected connection is not abandoned (that is a disconnect).
    const next = await create(orgId);
    await activate(orgId, next.connection.id);
    expect(
      await errorOf(
        bus.request('connection.connections.abandon', {
          orgId,
          connectionId: next.connection.id,
          reason: 'x',
        }),
      ),
    ).toMatchObject({ code: 'CONFLICT', reason: 'not_pending' });

    // Abandoning one of two pending user connects leaves the instance pending for the other.
    const org2 = randomUUID();
    const u1 = await create(org2, { vendor: 'confluence', level: 'user' });
    await create(org2, { vendor: 'confluence', level: 'user' });
    await bus.request('connection.connections.abandon', {
      orgId: org2,
      connectionId: u1.connection.id,
      reason: 'closed',
    });
    const inst2 = await bus.request('connection.instances.get', {
      orgId: org2,
      vendor: 'confluence',
    });
    expect(inst2.instance?.status).toBe('pending');
  });

  it('lists Postmark sender emails in the From options only while connected', async () => {
    const orgId = randomUUID();
    const pm = await create(orgId, {
      vendor: 'postmark',
      externalAccountId: null,
      tenantId: null,
      details: { senderEmails: ['billing@acme.test', 'support@acme.test'] },
    });
    // Other vendors' details never feed the dropdown.
    const conf = await create(orgId, {
      vendor: 'confluence',
      details: { senderEmails: ['wiki@acme.test'] },
    });
    await activate(orgId, conf.connection.id);
    expect((await bus.request('connection.email-builder.from-options', { orgId })).options).toEqual(
      [],
    );

    await activate(orgId, pm.connection.id);
    expect((await bus.request('connection.email-builder.from-options', { orgId })).options).toEqual(
      [
        { email: 'billing@acme.test', vendor: 'postmark', connectionId: pm.connection.id },
        { email: 'support@acme.test', vendor: 'postmark', connectionId: pm.connection.id },
      ],
    );
    // Another org sees none of them.
    expect(
      (await bus.request('connection.email-builder.from-options', { orgId: randomUUID() })).options,
    ).toEqual([]);

    await db.query(
      `update connection.integration_connection set status = 'revoked', revoked_at = now() where id = $1`,
      [pm.connection.id],
    );
    expect((await bus.request('connection.email-builder.from-options', { orgId })).options).toEqual(
      [],
    );
  });

  it('lists the features that depend on a vendor', async () => {
    const orgId = randomUUID();
    const pm = await bus.request('connection.dependents.list', { orgId, vendor: 'postmark' });
    expect(pm.dependents).toEqual([
      expect.objectContaining({
        label: 'Email Builder',
        effect: expect.stringContaining('"From" dropdown'),
      }),
    ]);
    const conf = await bus.request('connection.dependents.list', { orgId, vendor: 'confluence' });
    expect(conf.dependents.map((d) => d.label)).toEqual(['Knowledge Base search']);
    const sn = await bus.request('connection.dependents.list', { orgId, vendor: 'servicenow' });
    expect(sn.dependents.map((d) => d.label)).toEqual(['Ticket sync in the Support inbox']);
    const none = await bus.request('connection.dependents.list', { orgId, vendor: 'slack' });
    expect(none.dependents).toEqual([]);
  });

  it('validates the subdomain and refuses to change it under a connected instance', async () => {
    const orgId = randomUUID();
    for (const subdomain of ['acme.evil.com', 'a/b', 'evil.com/x', '-acme', '']) {
      // Refused by the Bus before sending, and by the service when sent anyway.
      expect(
        await errorOf(
          bus.request('connection.instances.configure', {
            orgId,
            vendor: 'servicenow',
            config: { subdomain },
          }),
        ),
      ).toMatchObject({ code: 'BAD_REQUEST' });
      const reply = await raw(
        'connection.instances.configure',
        JSON.stringify({ orgId, vendor: 'servicenow', config: { subdomain } }),
      );
      expect(reply.status).toBe('400');
      expect(reply.body).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    }
    const unknownKey = await raw(
      'connection.instances.configure',
      JSON.stringify({ orgId, vendor: 'servicenow', config: { host: 'evil.com' } }),
    );
    expect(unknownKey.status).toBe('400');
    expect(
      (await bus.request('connection.instances.get', { orgId, vendor: 'servicenow' })).instance,
    ).toBeNull();

    await bus.request('connection.instances.configure', {
      orgId,
      vendor: 'servicenow',
      config: { subdomain: 'acme' },
    });
    // Changing it before connecting is fine.
    await bus.request('connection.instances.configure', {
      orgId,
      vendor: 'servicenow',
      config: { subdomain: 'acme-dev' },
    });
    const c = await create(orgId);
    expect(
      await errorOf(
        bus.request('connection.instances.configure', {
          orgId,
          vendor: 'servicenow',
          config: { subdomain: 'globex' },
        }),
      ),
    ).toMatchObject({ code: 'CONFLICT', reason: 'connect_in_progress' });
    await activate(orgId, c.connection.id);
    expect(
      await errorOf(
        bus.request('connection.instances.configure', {
          orgId,
          vendor: 'servicenow',
          config: { subdomain: 'globex' },
        }),
      ),
    ).toMatchObject({ code: 'CONFLICT', reason: 'instance_connected' });
    // Saving the same config again is harmless.
    const same = await bus.request('connection.instances.configure', {
      orgId,
      vendor: 'servicenow',
      config: { subdomain: 'acme-dev' },
    });
    expect(same.instance).toMatchObject({ status: 'connected', config: { subdomain: 'acme-dev' } });
  });

  it('pins an instance to the tenant of its first connection: another tenant is refused, even after a disconnect', async () => {
    const orgId = randomUUID();
    const qb = (userId: string, tenantId: string | null) =>
      create(orgId, {
        vendor: 'quickbooks',
        level: 'user',
        userId,
        externalAccountId: tenantId ?? 'acct',
        tenantId,
      });
    const pin = async () =>
      (await bus.request('connection.instances.get', { orgId, vendor: 'quickbooks' })).instance
        ?.tenantId;
    // Two connects of different companies both pending: the first activated pins the instance, the other is
    // refused at its activation and changes nothing.
    const a = await qb(randomUUID(), 'realm-acme');
    const b = await qb(randomUUID(), 'realm-globex');
    expect(await pin()).toBeNull();
    await activate(orgId, a.connection.id);
    expect(await pin()).toBe('realm-acme');
    expect(await errorOf(activate(orgId, b.connection.id))).toMatchObject({
      code: 'CONFLICT',
      reason: 'tenant_mismatch',
    });
    expect(
      (await bus.request('connection.connections.get', { orgId, connectionId: b.connection.id }))
        .connection.status,
    ).toBe('pending');
    // A new connect of another company, or of none, is refused before anything is stored.
    const before = await rowCounts();
    for (const tenant of ['realm-globex', null]) {
      expect(await errorOf(qb(randomUUID(), tenant))).toMatchObject({
        code: 'CONFLICT',
        reason: 'tenant_mismatch',
      });
    }
    expect(await rowCounts()).toEqual(before);
    // The same company: connected beside the first.
    const c = await qb(randomUUID(), 'realm-acme');
    await activate(orgId, c.connection.id);
    // Every connection revoked, the instance too: its data is still the first company's.
    await bus.request('connection.connections.abandon', {
      orgId,
      connectionId: b.connection.id,
      reason: 'connect_failed',
    });
    await revokeAsDisconnectDoes(a);
    await revokeAsDisconnectDoes(c);
    expect(await errorOf(qb(randomUUID(), 'realm-globex'))).toMatchObject({
      code: 'CONFLICT',
      reason: 'tenant_mismatch',
    });
    expect(await pin()).toBe('realm-acme');
    const again = await qb(randomUUID(), 'realm-acme');
    const back = await activate(orgId, again.connection.id);
    expect(back.instance).toMatchObject({ status: 'connected', tenantId: 'realm-acme' });
    // A provider without tenants (Postmark) is never pinned.
    const pm = await create(orgId, { vendor: 'postmark', externalAccountId: null, tenantId: null });
    const pmActive = await activate(orgId, pm.connection.id);
    expect(pmActive.instance.tenantId).toBeNull();
  });

  it('keeps a pinned instance on its site and its subdomain; the same ones may be saved again', async () => {
    const orgId = randomUUID();
    const configure = (vendor: string, config: { subdomain?: string; site?: string }) =>
      bus.request('connection.instances.configure', { orgId, vendor, config });
    await configure('servicenow', { subdomain: 'acme' });
    const sn = await create(orgId, { tenantId: 'acme.service-now.com' });
    await activate(orgId, sn.connection.id);
    await revokeAsDisconnectDoes(sn);
    expect(await errorOf(configure('servicenow', { subdomain: 'globex' }))).toMatchObject({
      code: 'CONFLICT',
      reason: 'tenant_pinned',
    });
    expect((await configure('servicenow', { subdomain: 'acme' })).instance.config).toEqual({
      subdomain: 'acme',
    });
    // Atlassian: the site chosen before the first connect, then the connection on it.
    await configure('confluence', { site: 'site-acme' });
    const cf = await create(orgId, { vendor: 'confluence', tenantId: 'site-acme' });
    await activate(orgId, cf.connection.id);
    await revokeAsDisconnectDoes(cf);
    expect(await errorOf(configure('confluence', { site: 'site-initech' }))).toMatchObject({
      code: 'CONFLICT',
      reason: 'tenant_pinned',
    });
    expect((await configure('confluence', {})).instance).toMatchObject({
      config: {},
      tenantId: 'site-acme',
    });
    expect((await configure('confluence', { site: 'site-acme' })).instance.config).toEqual({
      site: 'site-acme',
    });
  });

  it("answers another org's connection exactly like a missing one", async () => {
    const orgId = randomUUID();
    const other = randomUUID();
    const c = await create(orgId);
    const foreign = await errorOf(
      bus.request('connection.connections.get', { orgId: other, connectionId: c.connection.id }),
    );
    const missing = await errorOf(
      bus.request('connection.connections.get', { orgId: other, connectionId: randomUUID() }),
    );
    expect(foreign).toMatchObject({ code: 'NOT_FOUND' });
    expect({ ...foreign.toReply(), code: foreign.code }).toEqual({
      ...missing.toReply(),
      code: missing.code,
    });
    expect(await errorOf(activate(other, c.connection.id))).toMatchObject({ code: 'NOT_FOUND' });
    expect(
      await errorOf(
        bus.request('connection.connections.abandon', {
          orgId: other,
          connectionId: c.connection.id,
          reason: 'x',
        }),
      ),
    ).toMatchObject({ code: 'NOT_FOUND' });
    // Nothing changed for the owner.
    const own = await bus.request('connection.connections.get', {
      orgId,
      connectionId: c.connection.id,
    });
    expect(own.connection.status).toBe('pending');
  });

  it('resolves a webhook endpoint by instance id alone, with its org; never another provider’s', async () => {
    const orgId = randomUUID();
    const created = await create(orgId, { vendor: 'zendesk', tenantId: 'acme' });
    const instanceId = created.instance.id;
    // Pending: no endpoint yet (it comes with the first activation).
    expect(
      await errorOf(
        bus.request('connection.webhook-endpoints.resolve', { instanceId, vendor: 'zendesk' }),
      ),
    ).toMatchObject({ code: 'NOT_FOUND' });
    await activate(orgId, created.connection.id);
    const got = await bus.request('connection.webhook-endpoints.resolve', {
      instanceId,
      vendor: 'zendesk',
    });
    expect(got).toMatchObject({
      orgId,
      endpoint: { instanceId, status: 'enabled', url: `/webhooks/zendesk/${instanceId}` },
    });
    for (const req of [
      { instanceId, vendor: 'servicenow' },
      { instanceId: randomUUID(), vendor: 'zendesk' },
    ]) {
      expect(await errorOf(bus.request('connection.webhook-endpoints.resolve', req))).toMatchObject(
        { code: 'NOT_FOUND' },
      );
    }
  });

  it("keeps an endpoint's newest refusal (when, why) for the org's endpoint only, never moving back", async () => {
    const orgId = randomUUID();
    const created = await create(orgId, { vendor: 'xero' });
    const instanceId = created.instance.id;
    await activate(orgId, created.connection.id);
    const { endpoint } = await bus.request('connection.webhook-endpoints.resolve', {
      instanceId,
      vendor: 'xero',
    });
    expect(endpoint.lastRefusal).toBeNull();
    const refuse = (at: string, reason: TWebhookRefusalReason, org = orgId) =>
      bus.request('connection.webhook-endpoints.record-refusal', {
        orgId: org,
        instanceId,
        endpointId: endpoint.id,
        reason,
        at,
      });
    await expect(refuse('2026-11-22T10:00:00.000Z', 'signature_no_secret')).resolves.toEqual({
      recorded: true,
    });
    await expect(refuse('2026-11-22T10:05:00.000Z', 'signature_mismatch')).resolves.toEqual({
      recorded: true,
    });
    // An older one (another edge replica, late) does not overwrite it; nor does another org.
    await expect(refuse('2026-11-22T10:01:00.000Z', 'timestamp_stale')).resolves.toEqual({
      recorded: false,
    });
    await expect(
      refuse('2026-11-22T11:00:00.000Z', 'signature_missing', randomUUID()),
    ).resolves.toEqual({ recorded: false });
    const { webhookEndpoint } = await bus.request('connection.instances.get', {
      orgId,
      vendor: 'xero',
    });
    expect(webhookEndpoint?.lastRefusal).toEqual({
      at: '2026-11-22T10:05:00.000Z',
      reason: 'signature_mismatch',
    });
  });

  it('answers malformed payloads on every subject with a typed BAD_REQUEST and writes nothing', async () => {
    const before = await rowCounts();
    const orgId = randomUUID();
    const bodies = [
      'not json',
      '',
      '[]',
      'null',
      '{"orgId":1}',
      JSON.stringify({ orgId: 'not-a-uuid', vendor: 'servicenow' }),
      // Every field wrong at once (unknown keys alone are stripped, as everywhere).
      JSON.stringify({
        orgId: `${orgId}x`,
        vendor: 'Not A Slug!',
        level: 'root',
        userId: 'x',
        connectionId: 'x',
        eventId: 'x',
        config: { subdomain: 'a.b' },
        details: { apiToken: 'x' },
        reason: 'x'.repeat(500),
      }),
    ];
    // Right org, every other field wrong: malformed for each subject that takes more than the org.
    const deep = JSON.stringify({
      orgId,
      vendor: 'servicenow',
      level: 'root',
      userId: 'x',
      externalAccountId: null,
      tenantId: null,
      connectionId: randomUUID(),
      eventId: 'not-a-uuid',
      config: { subdomain: 'a.b' },
      details: { apiToken: 'x' },
      reason: '',
    });
    const subjects = Object.keys(connectionContracts) as (keyof typeof connectionContracts)[];
    expect(subjects).toHaveLength(25);
    for (const subject of subjects) {
      const rejectsDeep = !connectionContracts[subject].request.safeParse(JSON.parse(deep)).success;
      for (const body of rejectsDeep ? [...bodies, deep] : bodies) {
        const reply = await raw(subject, body);
        expect(reply.status, `${subject} ${body}`).toBe('400');
        expect(reply.body).toMatchObject({ error: { code: 'BAD_REQUEST' } });
      }
    }
    const deepRejectedBy = subjects.filter(
      (s) => !connectionContracts[s].request.safeParse(JSON.parse(deep)).success,
    );
    expect(deepRejectedBy).toEqual(
      expect.arrayContaining([
        'connection.instances.configure',
        'connection.connections.create',
        'connection.connections.activate',
        'connection.connections.abandon',
        'connection.connections.lock',
        'connection.connections.unlock',
        'connection.connections.complete-reconnect',
        'connection.webhook-endpoints.resolve',
        'connection.webhook-endpoints.record-refusal',
      ]),
    );
    expect(await rowCounts()).toEqual(before);
    // Still answering.
    const ok = await bus.request('connection.integrations.list', { orgId });
    expect(ok.instances).toEqual([]);
  });

  it('answers UNAVAILABLE when the event cannot be published, and a retry publishes it', async () => {
    const orgId = randomUUID();
    const c = await create(orgId, { vendor: 'postmark', details: { senderEmails: ['a@x.test'] } });
    // JetStream refuses the publish (the stream no longer captures the subject): a deleted stream would be
    // created again by the publisher.
    const restore = await refuseStreamPublishes(nc, 'INTEGRATIONS');
    const eventId = randomUUID();
    try {
      expect(await errorOf(activate(orgId, c.connection.id, eventId))).toMatchObject({
        code: 'UNAVAILABLE',
      });
      // The state change is committed; only the event is owed.
      const got = await bus.request('connection.connections.get', {
        orgId,
        connectionId: c.connection.id,
      });
      expect(got.connection.status).toBe('connected');
    } finally {
      await restore();
    }
    const retried = await activate(orgId, c.connection.id, eventId);
    expect(retried.connection.status).toBe('connected');
    const events = await connectedEvents(c.connection.id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ msgId: eventId, event: { eventId, vendor: 'postmark' } });
  });

  it('sweeps connects that will never finish: abandoned, announced and audited once; a young one stays', async () => {
    const expiredBefore = await metricValue(
      'otesse_connects_abandoned_total{how="connect_expired"}',
    );
    const orgId = randomUUID();
    const userId = randomUUID();
    // A reconnection's instance (revoked before) that the dead connect had made pending.
    const first = await create(orgId, { level: 'user', userId });
    await activate(orgId, first.connection.id);
    await revokeAsDisconnectDoes(first);
    const dead = await create(orgId, { level: 'user', userId });
    expect(dead.instance.status).toBe('pending');
    const young = await create(randomUUID(), { vendor: 'confluence' });
    // The dead connect's edge was killed three minutes ago, past STALE_PENDING_CONNECTION_MS (2 min).
    await db.query(
      `update connection.integration_connection set created_at = now() - interval '3 minutes' where id = $1`,
      [dead.connection.id],
    );

    const abandonedEvents = await messagesOnceThere<TConnectionAbandonedEvent>(
      'INTEGRATIONS',
      'integrations.connection.abandoned',
      dead.connection.id,
    );
    const got = await bus.request('connection.connections.get', {
      orgId,
      connectionId: dead.connection.id,
    });
    expect(got.connection.status).toBe('error');
    // The instance is back to what it was before the dead connect.
    expect(got.instance.status).toBe('revoked');
    expect(abandonedEvents).toHaveLength(1);
    const [event] = abandonedEvents;
    expect(event!.body).toMatchObject({
      orgId,
      connectionId: dead.connection.id,
      instanceId: dead.instance.id,
      vendor: 'servicenow',
      level: 'user',
      userId,
      reason: 'connect_expired',
    });
    expect(event!.msgId).toBe(event!.body.eventId);
    // Nobody else audits a connect the system gave up on: the connection service does, as the system.
    const audits = await messagesOnceThere<TAuditEvent>(
      'AUDIT',
      'audit.entries.append',
      dead.connection.id,
    );
    expect(audits).toHaveLength(1);
    expect(audits[0]!.body).toMatchObject({
      orgId,
      actorUserId: null,
      onBehalfOfUserId: userId,
      action: 'connection.connect_failed',
      outcome: 'failure',
      details: { reason: 'connect_expired' },
    });

    // Operators see it counted on /metrics.
    expect(
      (await metricValue('otesse_connects_abandoned_total{how="connect_expired"}')) - expiredBefore,
    ).toBeGreaterThanOrEqual(1);

    // Later sweeps publish nothing more, and never touch a connect still within its bound.
    await new Promise((r) => setTimeout(r, 600));
    expect(
      await streamMessages('INTEGRATIONS', 'integrations.connection.abandoned', dead.connection.id),
    ).toHaveLength(1);
    const stillYoung = await bus.request('connection.connections.get', {
      orgId: young.connection.orgId,
      connectionId: young.connection.id,
    });
    expect(stillYoung.connection.status).toBe('pending');
    // Its slot is free again: the user connects anew.
    const again = await create(orgId, { level: 'user', userId });
    expect(again.connection.status).toBe('pending');
  });

  it('announces an abandon whose publish failed once the stream is back; the abandon itself answers', async () => {
    const orgId = randomUUID();
    const c = await create(orgId, { vendor: 'confluence' });
    // JetStream refuses the publish (the stream no longer captures the subject): a deleted stream would be
    // created again by the publisher.
    const restore = await refuseStreamPublishes(nc, 'INTEGRATIONS');
    try {
      const abandoned = await bus.request('connection.connections.abandon', {
        orgId,
        connectionId: c.connection.id,
        reason: 'connect_failed',
      });
      expect(abandoned.connection.status).toBe('error');
      expect(
        await metricValue(
          'otesse_event_outbox_publish_failures_total{subject="integrations.connection.abandoned"}',
        ),
      ).toBeGreaterThanOrEqual(1);
    } finally {
      await restore();
    }
    const events = await messagesOnceThere<TConnectionAbandonedEvent>(
      'INTEGRATIONS',
      'integrations.connection.abandoned',
      c.connection.id,
    );
    expect(events).toHaveLength(1);
    expect(events[0]!.body).toMatchObject({ reason: 'connect_failed', vendor: 'confluence' });
    // The edge audits the connects it abandons itself: no second entry from the connection service.
    expect(await streamMessages('AUDIT', 'audit.entries.append', c.connection.id)).toHaveLength(0);
  });
});
