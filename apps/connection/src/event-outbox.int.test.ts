import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import {
  type TAuditEvent,
  type TConnectionAbandonedEvent,
  type TConnectionConnectedEvent,
  type TRequestInput,
} from '@otesse/contracts';
import type { Bus, EventPublisher } from '@otesse/messaging';
import { EventPublisher as Publisher } from '@otesse/messaging';
import {
  errorOf,
  refuseStreamPublishes,
  streamMessagesAbout,
  waitFor,
  type TTestDatabase,
} from '@otesse/testing';
import {
  connectedConnection,
  startConnectionTestBed,
  type TConnectionTestBed,
} from './test/connection-test-bed';

type TStream = 'INTEGRATIONS' | 'AUDIT';

/**
 * The events the connection service owes (event outbox): `connected`, `refresh_token_expired` and `abandoned`, with
 * their audit entries, are never lost when JetStream refuses them at the time, and every event it publishes names
 * its org (Otesse-Org).
 * Publishing is refused for real: the stream's subjects are moved away (a privileged connection edits the stream),
 * so JetStream answers "no stream" to every publish on them until they are put back.
 */
describe('the connection service owes its events until JetStream has them (real Postgres + NATS)', () => {
  let bed: TConnectionTestBed;
  let db: TTestDatabase;
  let bus: Bus;
  let nc: NatsConnection;
  let events: EventPublisher;

  beforeAll(async () => {
    bed = await startConnectionTestBed('connection-outbox-test', {
      healthChecks: { enabled: false },
      // The sweep (which publishes what is owed) every 200 ms; its copy of an expiry's audit entry after 300 ms.
      pendingSweep: { intervalMs: 200 },
      refreshExpiredAuditDelayMs: 300,
    });
    ({ db, bus, nc } = bed);
    events = new Publisher(nc);
  });
  afterAll(async () => {
    await bed?.close();
  });

  const refusePublishes = (...streams: TStream[]) => refuseStreamPublishes(nc, ...streams);

  const messages = <T>(stream: TStream, subject: string, connectionId: string) =>
    streamMessagesAbout<T>(nc, stream, subject, connectionId);
  const once = <T>(stream: TStream, subject: string, connectionId: string) =>
    waitFor(
      async () => {
        const found = await messages<T>(stream, subject, connectionId);
        return found.length > 0 ? found : undefined;
      },
      { timeoutMs: 10_000, what: `${subject} of ${connectionId} on ${stream}` },
    );
  const settle = () => new Promise((r) => setTimeout(r, 1_000));
  /** JetStream acknowledges before the publisher marks the row published: a reader may see the message first. */
  const markedPublished = (connectionId: string) =>
    waitFor(async () => (await owed(connectionId)).length === 0, {
      timeoutMs: 5_000,
      what: `${connectionId}'s published events marked`,
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
  const activate = (orgId: string, connectionId: string, eventId: string) =>
    bus.request('connection.connections.activate', { orgId, connectionId, eventId });
  const mark = (orgId: string, connectionId: string, eventId: string) =>
    bus.request('connection.connections.mark-refresh-expired', { orgId, connectionId, eventId });
  const owed = async (connectionId: string) =>
    (
      await db.query<{ subject: string }>(
        `select subject from connection.event_outbox where connection_id = $1 and published_at is null
          order by subject`,
        [connectionId],
      )
    ).map((r) => r.subject);

  it('connected: refused at the activation, it is published once the stream is back, once, at connectedAt', async () => {
    const orgId = randomUUID();
    const userId = randomUUID();
    const c = await create(orgId, { vendor: 'hubspot', userId, tenantId: null });
    const eventId = randomUUID();
    const restore = await refusePublishes('INTEGRATIONS');
    try {
      // The activation commits; only its event is not out: owed, and the caller is told to retry.
      expect(await errorOf(activate(orgId, c.connection.id, eventId))).toMatchObject({
        code: 'UNAVAILABLE',
        reason: 'event_publish_failed',
      });
      // The sweep tries too, and fails, while the stream refuses it.
      await settle();
      expect(await owed(c.connection.id)).toEqual(['integrations.connection.connected']);
    } finally {
      await restore();
    }
    const got = await bus.request('connection.connections.get', {
      orgId,
      connectionId: c.connection.id,
    });
    expect(got.connection.status).toBe('connected');
    // Nobody retried the activation (the edge's case before): the sweep publishes it.
    const found = await once<TConnectionConnectedEvent>(
      'INTEGRATIONS',
      'integrations.connection.connected',
      c.connection.id,
    );
    expect(found).toEqual([
      {
        msgId: eventId,
        org: orgId,
        body: {
          eventId,
          occurredAt: got.connection.connectedAt,
          orgId,
          vendor: 'hubspot',
          instanceId: got.instance.id,
          connectionId: c.connection.id,
          level: 'app',
          userId,
          externalAccountId: 'acct-1',
          tenantId: null,
          instanceReused: false,
        },
      },
    ]);
    await markedPublished(c.connection.id);
    expect(await owed(c.connection.id)).toEqual([]);
    // Later sweeps and a late retry of the activation publish nothing more.
    await settle();
    await activate(orgId, c.connection.id, eventId);
    expect(
      await messages('INTEGRATIONS', 'integrations.connection.connected', c.connection.id),
    ).toHaveLength(1);
    // A published event is kept a week, then the sweep deletes it.
    await db.query(
      `update connection.event_outbox set published_at = now() - interval '8 days' where connection_id = $1`,
      [c.connection.id],
    );
    await waitFor(
      async () =>
        (
          await db.query(`select 1 from connection.event_outbox where connection_id = $1`, [
            c.connection.id,
          ])
        ).length === 0,
      { timeoutMs: 5_000, what: 'the week-old published event deleted' },
    );
  });

  it('connected: an activation retried once the stream is back answers, and the event is on the stream once', async () => {
    const orgId = randomUUID();
    const c = await create(orgId, { vendor: 'xero' });
    const eventId = randomUUID();
    const restore = await refusePublishes('INTEGRATIONS');
    try {
      expect(await errorOf(activate(orgId, c.connection.id, eventId))).toMatchObject({
        code: 'UNAVAILABLE',
      });
    } finally {
      await restore();
    }
    // A retry under another event id (a caller that lost its own) publishes the first activation's event.
    const retried = await activate(orgId, c.connection.id, randomUUID());
    const found = await messages<TConnectionConnectedEvent>(
      'INTEGRATIONS',
      'integrations.connection.connected',
      c.connection.id,
    );
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({
      msgId: eventId,
      org: orgId,
      body: { eventId, occurredAt: retried.connection.connectedAt },
    });
    await settle();
    expect(
      await messages('INTEGRATIONS', 'integrations.connection.connected', c.connection.id),
    ).toHaveLength(1);
  });

  it('refresh_token_expired: refused while the flag is set, the event and the audit entry come once the streams are back, once each', async () => {
    const orgId = randomUUID();
    const { connection, instance } = await connectedConnection(bus, {
      orgId,
      vendor: 'confluence',
      level: 'user',
      userId: randomUUID(),
      externalAccountId: 'u-bob',
      tenantId: null,
    });
    const sent = [randomUUID(), randomUUID(), randomUUID()];
    const restore = await refusePublishes('INTEGRATIONS', 'AUDIT');
    try {
      // The vault's three attempts: the first sets the flag, each answers UNAVAILABLE (the vault gives up, and
      // never learns the event id, so it appends no audit entry of its own).
      for (const eventId of sent) {
        expect(await errorOf(mark(orgId, connection.id, eventId))).toMatchObject({
          code: 'UNAVAILABLE',
          reason: 'event_publish_failed',
        });
      }
      await settle();
      expect(await owed(connection.id)).toEqual([
        'audit.entries.append',
        'integrations.connection.refresh_token_expired',
      ]);
    } finally {
      await restore();
    }
    const [row] = await db.query<{ event_id: string; at: Date; flag: boolean }>(
      `select refresh_token_expired_event_id as event_id, refresh_token_expired_at as at,
              refresh_token_expired as flag
         from connection.integration_connection where id = $1`,
      [connection.id],
    );
    expect(row!.flag).toBe(true);
    // The first attempt's event id is the one kept.
    expect(row!.event_id).toBe(sent[0]);
    const expiredAt = new Date(row!.at).toISOString();
    const expired = await once(
      'INTEGRATIONS',
      'integrations.connection.refresh_token_expired',
      connection.id,
    );
    expect(expired).toEqual([
      {
        msgId: row!.event_id,
        org: orgId,
        body: {
          eventId: row!.event_id,
          occurredAt: expiredAt,
          orgId,
          vendor: 'confluence',
          instanceId: instance.id,
          connectionId: connection.id,
          level: 'user',
          userId: connection.userId,
        },
      },
    ]);
    const audits = await once<TAuditEvent>('AUDIT', 'audit.entries.append', connection.id);
    expect(audits).toHaveLength(1);
    expect(audits[0]).toMatchObject({
      msgId: row!.event_id,
      org: orgId,
      body: {
        eventId: row!.event_id,
        orgId,
        actorUserId: null,
        onBehalfOfUserId: connection.userId,
        action: 'connection.refresh_token_expired',
        provider: 'confluence',
        targets: { instanceId: instance.id, connectionId: connection.id },
        outcome: 'failure',
        details: { level: 'user', reconnectRequired: true },
        occurredAt: expiredAt,
      },
    });
    // The vault's next request finds the flag set and marks nothing; a late mark publishes nothing more.
    await settle();
    expect(await mark(orgId, connection.id, randomUUID())).toMatchObject({
      changed: false,
      eventId: row!.event_id,
      expiredAt,
    });
    await settle();
    expect(await owed(connection.id)).toEqual([]);
    expect(
      await messages(
        'INTEGRATIONS',
        'integrations.connection.refresh_token_expired',
        connection.id,
      ),
    ).toHaveLength(1);
    expect(await messages('AUDIT', 'audit.entries.append', connection.id)).toHaveLength(1);
  });

  it("refresh_token_expired: the vault's own audit entry comes first and the service's copy is dropped as its duplicate", async () => {
    const orgId = randomUUID();
    const { connection, instance } = await connectedConnection(bus, {
      orgId,
      vendor: 'google',
      level: 'user',
      userId: randomUUID(),
      externalAccountId: 'u-carol',
      tenantId: null,
    });
    const marked = await mark(orgId, connection.id, randomUUID());
    // What the vault appends on a successful mark: the provider's answer in details, the kept event id.
    await events.publish(
      'audit.entries.append',
      {
        eventId: marked.eventId,
        orgId,
        actorUserId: null,
        onBehalfOfUserId: connection.userId,
        action: 'connection.refresh_token_expired',
        provider: 'google',
        targets: { instanceId: instance.id, connectionId: connection.id },
        outcome: 'failure',
        details: {
          signal: 'invalid_grant',
          httpStatus: 400,
          level: 'user',
          reconnectRequired: true,
        },
        occurredAt: marked.expiredAt,
      },
      { msgId: marked.eventId, ctx: { orgId } },
    );
    // The service's copy is due after 300 ms; the sweep publishes it and JetStream drops it (same msgID).
    await waitFor(async () => (await owed(connection.id)).length === 0, {
      timeoutMs: 10_000,
      what: 'the audit copy published',
    });
    const audits = await messages<TAuditEvent>('AUDIT', 'audit.entries.append', connection.id);
    expect(audits).toHaveLength(1);
    expect(audits[0]!.body.details).toMatchObject({ signal: 'invalid_grant', httpStatus: 400 });
  });

  it('abandoned: refused at the abandon, which answers all the same; the sweep publishes it once the stream is back, once', async () => {
    const orgId = randomUUID();
    const userId = randomUUID();
    const c = await create(orgId, { vendor: 'zendesk', level: 'user', userId, tenantId: null });
    const restore = await refusePublishes('INTEGRATIONS');
    try {
      const abandoned = await bus.request('connection.connections.abandon', {
        orgId,
        connectionId: c.connection.id,
        reason: 'connect_failed',
      });
      expect(abandoned.connection.status).toBe('error');
      // The sweep tries too, and fails, while the stream refuses it.
      await settle();
      expect(await owed(c.connection.id)).toEqual(['integrations.connection.abandoned']);
    } finally {
      await restore();
    }
    const got = await bus.request('connection.connections.get', {
      orgId,
      connectionId: c.connection.id,
    });
    const found = await once<TConnectionAbandonedEvent>(
      'INTEGRATIONS',
      'integrations.connection.abandoned',
      c.connection.id,
    );
    expect(found).toEqual([
      {
        msgId: found[0]!.body.eventId,
        org: orgId,
        body: {
          eventId: expect.stringMatching(/^[0-9a-f-]{36}$/),
          // When the connect was abandoned (the move to error).
          occurredAt: got.connection.updatedAt,
          orgId,
          vendor: 'zendesk',
          instanceId: got.instance.id,
          connectionId: c.connection.id,
          level: 'user',
          userId,
          reason: 'connect_failed',
        },
      },
    ]);
    await markedPublished(c.connection.id);
    expect(await owed(c.connection.id)).toEqual([]);
    // The edge audits the connects it abandons itself: no entry from the connection service.
    expect(await messages('AUDIT', 'audit.entries.append', c.connection.id)).toEqual([]);
    // A repeated abandon and later sweeps publish nothing more.
    await bus.request('connection.connections.abandon', {
      orgId,
      connectionId: c.connection.id,
      reason: 'connect_failed',
    });
    await settle();
    expect(
      await messages('INTEGRATIONS', 'integrations.connection.abandoned', c.connection.id),
    ).toHaveLength(1);
  });

  it('abandoned by the system (the sweep, a new connect in a stale slot): the event and its audit entry, refused at the time, come once the streams are back, once each, under one id', async () => {
    const orgId = randomUUID();
    const userId = randomUUID();
    const restore = await refusePublishes('INTEGRATIONS', 'AUDIT');
    let expired, stale;
    try {
      // An edge killed mid-connect three minutes ago, past STALE_PENDING_CONNECTION_MS: the sweep abandons it.
      expired = await create(orgId, { vendor: 'hubspot', level: 'user', userId, tenantId: null });
      // Another, in the app slot a new connect comes for: that connect abandons it (unless the sweep came first).
      stale = await create(orgId, { vendor: 'xero' });
      await db.query(
        `update connection.integration_connection set created_at = now() - interval '3 minutes'
          where id = any($1::uuid[])`,
        [[expired.connection.id, stale.connection.id]],
      );
      const next = await create(orgId, { vendor: 'xero' });
      expect(next.connection.status).toBe('pending');
      await waitFor(
        async () =>
          (await owed(expired!.connection.id)).length === 2 &&
          (await owed(stale!.connection.id)).length === 2,
        { timeoutMs: 10_000, what: 'both abandons owed' },
      );
      await settle();
      for (const c of [expired, stale]) {
        expect(await owed(c.connection.id)).toEqual([
          'audit.entries.append',
          'integrations.connection.abandoned',
        ]);
      }
    } finally {
      await restore();
    }
    for (const [c, reasons] of [
      [expired, ['connect_expired']],
      [stale, ['stale_pending', 'connect_expired']],
    ] as const) {
      const got = await bus.request('connection.connections.get', {
        orgId,
        connectionId: c.connection.id,
      });
      expect(got.connection.status).toBe('error');
      const [event, ...moreEvents] = await once<TConnectionAbandonedEvent>(
        'INTEGRATIONS',
        'integrations.connection.abandoned',
        c.connection.id,
      );
      expect(moreEvents).toEqual([]);
      expect(reasons).toContain(event!.body.reason);
      expect(event).toEqual({
        msgId: event!.body.eventId,
        org: orgId,
        body: {
          eventId: event!.body.eventId,
          occurredAt: got.connection.updatedAt,
          orgId,
          vendor: got.connection.vendor,
          instanceId: got.instance.id,
          connectionId: c.connection.id,
          level: got.connection.level,
          userId: got.connection.userId,
          reason: event!.body.reason,
        },
      });
      const audits = await once<TAuditEvent>('AUDIT', 'audit.entries.append', c.connection.id);
      expect(audits).toEqual([
        {
          msgId: event!.body.eventId,
          org: orgId,
          body: {
            eventId: event!.body.eventId,
            orgId,
            actorUserId: null,
            onBehalfOfUserId: got.connection.userId,
            action: 'connection.connect_failed',
            provider: got.connection.vendor,
            targets: { instanceId: got.instance.id, connectionId: c.connection.id },
            outcome: 'failure',
            details: { reason: event!.body.reason, level: got.connection.level },
            occurredAt: got.connection.updatedAt,
            ip: null,
            traceId: null,
          },
        },
      ]);
    }
    await settle();
    for (const c of [expired, stale]) {
      expect(await owed(c.connection.id)).toEqual([]);
      expect(
        await messages('INTEGRATIONS', 'integrations.connection.abandoned', c.connection.id),
      ).toHaveLength(1);
      expect(await messages('AUDIT', 'audit.entries.append', c.connection.id)).toHaveLength(1);
    }
  });

  it('names the org (Otesse-Org) on reconnected / user_changed with the level and owner, and on abandoned', async () => {
    const orgId = randomUUID();
    const ownerId = randomUUID();
    const { connection } = await connectedConnection(bus, {
      orgId,
      vendor: 'slack',
      level: 'user',
      userId: ownerId,
      externalAccountId: 'u-dan',
      tenantId: 'T1',
    });
    for (const action of ['reconnect', 'changeUser'] as const) {
      const sagaId = randomUUID();
      await bus.request('connection.connections.lock', {
        orgId,
        connectionId: connection.id,
        sagaId,
        purpose: action,
        idempotencyKey: `${sagaId}:lock`,
      });
      const eventId = randomUUID();
      await bus.request('connection.connections.complete-reconnect', {
        orgId,
        connectionId: connection.id,
        sagaId,
        action,
        externalAccountId: action === 'reconnect' ? 'u-dan' : 'u-eve',
        tenantId: 'T1',
        details: {},
        eventId,
        actorUserId: randomUUID(),
        idempotencyKey: `${sagaId}:complete`,
      });
      const subject =
        action === 'reconnect'
          ? 'integrations.connection.reconnected'
          : 'integrations.connection.user_changed';
      const found = await messages<{ eventId: string }>('INTEGRATIONS', subject, connection.id);
      expect(found).toHaveLength(1);
      expect(found[0]).toMatchObject({
        msgId: eventId,
        org: orgId,
        body: { eventId, level: 'user', userId: ownerId },
      });
    }

    const pending = await create(orgId, { vendor: 'zendesk' });
    await bus.request('connection.connections.abandon', {
      orgId,
      connectionId: pending.connection.id,
      reason: 'connect_failed',
    });
    const abandoned = await once(
      'INTEGRATIONS',
      'integrations.connection.abandoned',
      pending.connection.id,
    );
    expect(abandoned).toHaveLength(1);
    expect(abandoned[0]!.org).toBe(orgId);
  });
});
