import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import pg from 'pg';
import type { TEventOf, TRequestInput } from '@otesse/contracts';
import type { Bus } from '@otesse/messaging';
import type { TTestDatabase } from '@otesse/testing';
import {
  connectedConnection,
  startConnectionTestBed,
  type TConnectionTestBed,
} from './test/connection-test-bed';
import { errorOf, refuseStreamPublishes, waitFor } from '@otesse/testing';

type TAction = 'reconnect' | 'changeUser';
type TReconnectedEvent = TEventOf<'integrations.connection.reconnected'>;

/** Seed 003: the reconnect / change-user saga's commands to the connection service (lock, unlock, complete). */
describe('reconnect and change-user commands of the connection service (real Postgres + NATS)', () => {
  let bed: TConnectionTestBed;
  let db: TTestDatabase;
  let bus: Bus;
  let nc: NatsConnection;

  beforeAll(async () => {
    bed = await startConnectionTestBed('connection-reconnect-test', {
      healthChecks: { enabled: false },
    });
    ({ db, bus, nc } = bed);
  });
  afterAll(async () => {
    await bed?.close();
  });

  /** A connected connection (create + activate), as the connect flow leaves it. */
  const connected = (
    orgId: string,
    over: Partial<TRequestInput<'connection.connections.create'>> = {},
  ) =>
    connectedConnection(bus, {
      orgId,
      vendor: 'servicenow',
      level: 'app',
      userId: randomUUID(),
      externalAccountId: 'u-alice',
      tenantId: 'acme.service-now.com',
      details: { accountLabel: 'Alice Anders', siteName: 'Acme' },
      ...over,
    });

  const lock = (
    orgId: string,
    connectionId: string,
    sagaId: string,
    purpose: TAction = 'reconnect',
    key = 'lock',
  ) =>
    bus.request('connection.connections.lock', {
      orgId,
      connectionId,
      sagaId,
      purpose,
      idempotencyKey: `${sagaId}:${key}`,
    });
  const unlock = (orgId: string, connectionId: string, sagaId: string, key = 'unlock') =>
    bus.request('connection.connections.unlock', {
      orgId,
      connectionId,
      sagaId,
      idempotencyKey: `${sagaId}:${key}`,
    });
  const completeReconnect = (
    orgId: string,
    connectionId: string,
    sagaId: string,
    over: Partial<TRequestInput<'connection.connections.complete-reconnect'>> = {},
  ) =>
    bus.request('connection.connections.complete-reconnect', {
      orgId,
      connectionId,
      sagaId,
      action: 'reconnect',
      externalAccountId: 'u-alice',
      tenantId: 'acme.service-now.com',
      details: {},
      eventId: randomUUID(),
      actorUserId: randomUUID(),
      idempotencyKey: `${sagaId}:complete`,
      ...over,
    });
  const begin = (orgId: string, connectionId: string, sagaId: string) =>
    bus.request('connection.connections.begin-disconnect', {
      orgId,
      connectionId,
      sagaId,
      idempotencyKey: `${sagaId}:lock`,
    });
  const cancel = (orgId: string, connectionId: string, sagaId: string) =>
    bus.request('connection.connections.cancel-disconnect', {
      orgId,
      connectionId,
      sagaId,
      idempotencyKey: `${sagaId}:unlock`,
    });
  const get = async (orgId: string, connectionId: string) =>
    (await bus.request('connection.connections.get', { orgId, connectionId })).connection;
  const lockRow = async (connectionId: string) =>
    (
      await db.query<{
        status: string;
        lock_saga_id: string | null;
        lock_purpose: string | null;
        disconnect_saga_id: string | null;
      }>(
        'select status, lock_saga_id, lock_purpose, disconnect_saga_id from connection.integration_connection where id = $1',
        [connectionId],
      )
    )[0]!;

  /** The reconnect events of a connection stored in INTEGRATIONS (as a consumer would read them). */
  async function reconnectEvents(connectionId: string) {
    const jsm = await nc.jetstreamManager();
    const { state } = await jsm.streams.info('INTEGRATIONS');
    const out: {
      subject: string;
      msgId: string | undefined;
      event: TReconnectedEvent;
    }[] = [];
    for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
      const m = await jsm.streams.getMessage('INTEGRATIONS', { seq }).catch(() => undefined);
      if (
        m?.subject !== 'integrations.connection.reconnected' &&
        m?.subject !== 'integrations.connection.user_changed'
      )
        continue;
      const event = m.json<TReconnectedEvent>();
      if (event.connectionId === connectionId)
        out.push({ subject: m.subject, msgId: m.header?.get('Nats-Msg-Id'), event });
    }
    return out;
  }

  it('lock holds the connection for one saga while it stays connected; unlock lifts only its own lock', async () => {
    const orgId = randomUUID();
    const { connection } = await connected(orgId);
    const saga = randomUUID();

    const first = await lock(orgId, connection.id, saga);
    expect(first.connection).toMatchObject({ status: 'connected', lockedFor: 'reconnect' });
    expect(await lock(orgId, connection.id, saga)).toEqual(first);
    // The same saga under another key is answered as done; another saga (or another purpose) is refused.
    await expect(lock(orgId, connection.id, saga, 'reconnect', 'lock-2')).resolves.toMatchObject({
      connection: { lockedFor: 'reconnect' },
    });
    expect(await errorOf(lock(orgId, connection.id, randomUUID(), 'changeUser'))).toMatchObject({
      code: 'CONFLICT',
      reason: 'locked',
      details: { purpose: 'reconnect' },
    });
    expect(await errorOf(lock(orgId, connection.id, saga, 'changeUser', 'lock-3'))).toMatchObject({
      code: 'CONFLICT',
      reason: 'locked',
    });
    // No disconnect while a reconnect holds it.
    expect(await errorOf(begin(orgId, connection.id, randomUUID()))).toMatchObject({
      code: 'CONFLICT',
      reason: 'locked',
    });
    expect(await lockRow(connection.id)).toEqual({
      status: 'connected',
      lock_saga_id: saga,
      lock_purpose: 'reconnect',
      disconnect_saga_id: null,
    });

    // Another saga's compensation is a no-op; this saga's lifts the lock; a replay answers the same.
    expect((await unlock(orgId, connection.id, randomUUID())).connection.lockedFor).toBe(
      'reconnect',
    );
    const lifted = await unlock(orgId, connection.id, saga);
    expect(lifted.connection).toMatchObject({ status: 'connected', lockedFor: null });
    expect(await unlock(orgId, connection.id, saga)).toEqual(lifted);

    // Now a disconnect may start, and a reconnect is refused while it runs, until it is cancelled.
    const disconnect = randomUUID();
    await begin(orgId, connection.id, disconnect);
    expect(await errorOf(lock(orgId, connection.id, randomUUID()))).toMatchObject({
      code: 'CONFLICT',
      reason: 'disconnecting',
    });
    // The late compensation of the first saga leaves the disconnect alone.
    expect((await unlock(orgId, connection.id, saga, 'unlock-late')).connection.status).toBe(
      'disconnecting',
    );
    await cancel(orgId, connection.id, disconnect);
    await expect(lock(orgId, connection.id, randomUUID(), 'changeUser')).resolves.toMatchObject({
      connection: { status: 'connected', lockedFor: 'changeUser' },
    });
  });

  it("a lock that arrives after its saga's compensation locks nothing: a disconnect or another saga may start", async () => {
    const orgId = randomUUID();
    const { connection, instance } = await connected(orgId);
    const saga = randomUUID();
    // The lock's attempts timed out before it reached the service; the saga compensated and ended.
    expect((await unlock(orgId, connection.id, saga, 'lock:compensate')).connection).toMatchObject({
      status: 'connected',
      lockedFor: null,
    });
    const late = await lock(orgId, connection.id, saga, 'changeUser');
    expect(late).toMatchObject({
      connection: { id: connection.id, status: 'connected', lockedFor: null },
      instance: { id: instance.id },
    });
    expect(await lock(orgId, connection.id, saga, 'changeUser')).toEqual(late);
    expect(await lockRow(connection.id)).toEqual({
      status: 'connected',
      lock_saga_id: null,
      lock_purpose: null,
      disconnect_saga_id: null,
    });
    await expect(lock(orgId, connection.id, randomUUID())).resolves.toMatchObject({
      connection: { lockedFor: 'reconnect' },
    });
  });

  it('a lock in flight when its compensation comes is waited for and lifted', async () => {
    const orgId = randomUUID();
    const { connection, instance } = await connected(orgId);
    const saga = randomUUID();
    const lockWaiters = async () =>
      (
        await db.query<{ n: number }>(
          `select count(*)::int as n from pg_stat_activity
            where datname = current_database() and wait_event_type = 'Lock'`,
        )
      )[0]!.n;
    // Another session holds the instance's row lock: the lock (its key claimed) waits for it, the compensation
    // waits for the lock's key.
    const holder = new pg.Client({ connectionString: db.adminUrl });
    await holder.connect();
    let locked: Promise<unknown> | undefined;
    let unlocked: Promise<unknown> | undefined;
    try {
      await holder.query('begin');
      await holder.query(
        'select id from connection.integration_instance where id = $1 for update',
        [instance.id],
      );
      locked = lock(orgId, connection.id, saga).catch((e) => e);
      await waitFor(async () => (await lockWaiters()) >= 1, { what: 'the lock to wait' });
      unlocked = unlock(orgId, connection.id, saga, 'lock:compensate').catch((e) => e);
      await waitFor(async () => (await lockWaiters()) >= 2, { what: 'the compensation to wait' });
      await holder.query('commit');
    } finally {
      await holder.end();
    }
    expect(await locked).toMatchObject({ connection: { lockedFor: 'reconnect' } });
    expect(await unlocked).toMatchObject({ connection: { lockedFor: null } });
    expect(await lockRow(connection.id)).toMatchObject({ lock_saga_id: null, lock_purpose: null });
  });

  it('refuses pending, revoked and error connections (not_connected) and another org (NOT_FOUND)', async () => {
    const orgId = randomUUID();
    const pending = await bus.request('connection.connections.create', {
      orgId,
      vendor: 'confluence',
      level: 'app',
      userId: randomUUID(),
      externalAccountId: null,
      tenantId: null,
    });
    expect(await errorOf(lock(orgId, pending.connection.id, randomUUID()))).toMatchObject({
      code: 'CONFLICT',
      reason: 'not_connected',
    });
    await bus.request('connection.connections.abandon', {
      orgId,
      connectionId: pending.connection.id,
      reason: 'test',
    });
    expect(await errorOf(lock(orgId, pending.connection.id, randomUUID()))).toMatchObject({
      code: 'CONFLICT',
      reason: 'not_connected',
      details: { status: 'error' },
    });
    const { connection } = await connected(orgId);
    const d = randomUUID();
    await begin(orgId, connection.id, d);
    await bus.request('connection.connections.complete-disconnect', {
      orgId,
      connectionId: connection.id,
      sagaId: d,
      idempotencyKey: `${d}:statuses`,
    });
    expect(await errorOf(lock(orgId, connection.id, randomUUID()))).toMatchObject({
      code: 'CONFLICT',
      reason: 'not_connected',
    });
    const other = await connected(orgId, { vendor: 'confluence' });
    const foreignOrg = randomUUID();
    for (const call of [
      () => lock(foreignOrg, other.connection.id, randomUUID()),
      () => unlock(foreignOrg, other.connection.id, randomUUID()),
      () => completeReconnect(foreignOrg, other.connection.id, randomUUID()),
    ])
      expect(await errorOf(call())).toMatchObject({ code: 'NOT_FOUND' });
    expect((await get(orgId, other.connection.id)).lockedFor).toBeNull();
  });

  it.each(['lock first', 'disconnect first', 'concurrently'] as const)(
    'a reconnect racing a disconnect (%s): exactly one proceeds, the other gets CONFLICT, no mixed state',
    async (order) => {
      for (let i = 0; i < (order === 'concurrently' ? 10 : 1); i++) {
        const orgId = randomUUID();
        const { connection } = await connected(orgId);
        const reconnectSaga = randomUUID();
        const disconnectSaga = randomUUID();
        const l = () => lock(orgId, connection.id, reconnectSaga);
        const b = () => begin(orgId, connection.id, disconnectSaga);
        let lockResult: PromiseSettledResult<unknown>;
        let beginResult: PromiseSettledResult<unknown>;
        if (order === 'lock first') {
          lockResult = await l().then(ok, ko);
          beginResult = await b().then(ok, ko);
        } else if (order === 'disconnect first') {
          beginResult = await b().then(ok, ko);
          lockResult = await l().then(ok, ko);
        } else {
          [lockResult, beginResult] = await Promise.allSettled([l(), b()]);
        }
        expect([lockResult.status, beginResult.status].sort()).toEqual(['fulfilled', 'rejected']);
        const row = await lockRow(connection.id);
        if (lockResult.status === 'fulfilled') {
          expect(beginResult).toMatchObject({ status: 'rejected' });
          expect((beginResult as PromiseRejectedResult).reason).toMatchObject({
            code: 'CONFLICT',
            reason: 'locked',
          });
          expect(row).toEqual({
            status: 'connected',
            lock_saga_id: reconnectSaga,
            lock_purpose: 'reconnect',
            disconnect_saga_id: null,
          });
          // The reconnect completes; the disconnect may then start.
          await completeReconnect(orgId, connection.id, reconnectSaga);
          await expect(begin(orgId, connection.id, randomUUID())).resolves.toBeDefined();
        } else {
          expect(lockResult.reason).toMatchObject({ code: 'CONFLICT', reason: 'disconnecting' });
          expect(row).toEqual({
            status: 'disconnecting',
            lock_saga_id: null,
            lock_purpose: null,
            disconnect_saga_id: disconnectSaga,
          });
          // The saga that lost cannot complete either.
          expect(
            await errorOf(completeReconnect(orgId, connection.id, reconnectSaga)),
          ).toMatchObject({ code: 'CONFLICT', reason: 'disconnecting' });
        }
      }
    },
  );

  it('complete-reconnect pins an instance stored before tenants were pinned to the tenant the edge matched, and never moves a pin', async () => {
    const orgId = randomUUID();
    const c = await connected(orgId, { tenantId: null });
    // As the instance_tenant migration leaves one whose connections named no tenant: not pinned.
    expect(c.instance.tenantId).toBeNull();
    const saga = randomUUID();
    await lock(orgId, c.connection.id, saga);
    const done = await completeReconnect(orgId, c.connection.id, saga, {
      tenantId: 'acme.service-now.com',
    });
    expect(done.connection.tenantId).toBe('acme.service-now.com');
    const pinOf = async () =>
      (await bus.request('connection.instances.get', { orgId, vendor: 'servicenow' })).instance
        ?.tenantId;
    expect(await pinOf()).toBe('acme.service-now.com');
    // A later swap records what it is given on the connection; the instance keeps its pin.
    const next = randomUUID();
    await lock(orgId, c.connection.id, next);
    await completeReconnect(orgId, c.connection.id, next, { tenantId: 'other-host' });
    expect(await pinOf()).toBe('acme.service-now.com');
  });

  it('complete-reconnect clears refreshTokenExpired, lifts the lock, publishes `reconnected` once; others untouched', async () => {
    const orgId = randomUUID();
    const { connection, instance } = await connected(orgId);
    const bystander = await connected(orgId, { level: 'user', externalAccountId: 'u-bob' });
    await bus.request('connection.connections.mark-refresh-expired', {
      orgId,
      connectionId: connection.id,
      eventId: randomUUID(),
    });
    expect((await get(orgId, connection.id)).refreshTokenExpired).toBe(true);
    const before = await bus.request('connection.instances.get', { orgId, vendor: 'servicenow' });
    const saga = randomUUID();
    await lock(orgId, connection.id, saga);

    const eventId = randomUUID();
    const actorUserId = randomUUID();
    const req = {
      eventId,
      actorUserId,
      details: { accountLabel: 'Alice A.' },
    };
    const done = await completeReconnect(orgId, connection.id, saga, req);
    expect(done.previousExternalAccountId).toBe('u-alice');
    expect(done.connection).toMatchObject({
      id: connection.id,
      status: 'connected',
      refreshTokenExpired: false,
      lockedFor: null,
      externalAccountId: 'u-alice',
      tenantId: 'acme.service-now.com',
      details: { accountLabel: 'Alice A.', siteName: 'Acme' },
      connectedAt: connection.connectedAt,
      userId: connection.userId,
    });
    expect(await get(orgId, connection.id)).toEqual(done.connection);
    // A replay answers the same and publishes nothing new.
    expect(await completeReconnect(orgId, connection.id, saga, req)).toEqual(done);

    const events = await reconnectEvents(connection.id);
    expect(events).toEqual([
      {
        subject: 'integrations.connection.reconnected',
        msgId: eventId,
        event: {
          eventId,
          occurredAt: done.connection.updatedAt,
          orgId,
          vendor: 'servicenow',
          instanceId: instance.id,
          connectionId: connection.id,
          sagaId: saga,
          actorUserId,
          action: 'reconnect',
          previousExternalAccountId: 'u-alice',
          externalAccountId: 'u-alice',
          tenantId: 'acme.service-now.com',
          // The connection's level and owner after the reconnect.
          level: 'app',
          userId: connection.userId,
        },
      },
    ]);
    // The instance, the other connection and the webhook endpoint are as they were.
    const after = await bus.request('connection.instances.get', { orgId, vendor: 'servicenow' });
    expect(after.instance).toEqual(before.instance);
    expect(after.webhookEndpoint).toEqual(before.webhookEndpoint);
    expect(after.connections.find((c) => c.id === bystander.connection.id)).toEqual(
      before.connections.find((c) => c.id === bystander.connection.id),
    );
    // The lock is gone: a second completion is refused, and the next expiry is a new event.
    expect(
      await errorOf(
        completeReconnect(orgId, connection.id, saga, { idempotencyKey: `${saga}:again` }),
      ),
    ).toMatchObject({ code: 'CONFLICT', reason: 'not_locked' });
    const nextExpiry = randomUUID();
    await expect(
      bus.request('connection.connections.mark-refresh-expired', {
        orgId,
        connectionId: connection.id,
        eventId: nextExpiry,
      }),
    ).resolves.toMatchObject({ changed: true, eventId: nextExpiry });
  });

  it('changeUser records the new user of the same tenant and publishes `user_changed`; only the lock holder may complete', async () => {
    const orgId = randomUUID();
    const { connection } = await connected(orgId, { vendor: 'confluence', tenantId: 'cloud-1' });
    const saga = randomUUID();
    // Without the lock, under another saga's lock, or for the other purpose: refused, nothing changed.
    expect(
      await errorOf(completeReconnect(orgId, connection.id, saga, { action: 'changeUser' })),
    ).toMatchObject({ code: 'CONFLICT', reason: 'not_locked' });
    await lock(orgId, connection.id, saga, 'changeUser');
    expect(
      await errorOf(
        completeReconnect(orgId, connection.id, randomUUID(), { action: 'changeUser' }),
      ),
    ).toMatchObject({ code: 'CONFLICT', reason: 'locked' });
    expect(
      await errorOf(
        completeReconnect(orgId, connection.id, saga, { idempotencyKey: `${saga}:wrong` }),
      ),
    ).toMatchObject({ code: 'CONFLICT', reason: 'lock_purpose_mismatch' });
    expect(await get(orgId, connection.id)).toMatchObject({
      externalAccountId: 'u-alice',
      lockedFor: 'changeUser',
    });

    const eventId = randomUUID();
    const done = await completeReconnect(orgId, connection.id, saga, {
      action: 'changeUser',
      externalAccountId: 'u-bob',
      tenantId: 'cloud-1',
      details: {},
      eventId,
    });
    expect(done).toMatchObject({
      previousExternalAccountId: 'u-alice',
      connection: {
        status: 'connected',
        externalAccountId: 'u-bob',
        tenantId: 'cloud-1',
        lockedFor: null,
        // The previous user's label is not the new user's; the site stays.
        details: { siteName: 'Acme' },
      },
    });
    expect(done.connection.details).not.toHaveProperty('accountLabel');
    const events = await reconnectEvents(connection.id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      subject: 'integrations.connection.user_changed',
      msgId: eventId,
      event: {
        action: 'changeUser',
        vendor: 'confluence',
        previousExternalAccountId: 'u-alice',
        externalAccountId: 'u-bob',
        tenantId: 'cloud-1',
        sagaId: saga,
      },
    });
  });

  it('lock refuses (account_changed) when the connection is no longer on the account the saga expects', async () => {
    const orgId = randomUUID();
    const { connection } = await connected(orgId, { vendor: 'google', tenantId: 'acme' });
    // A change of user to Bob completes after the reconnect's callback read Alice.
    const switched = randomUUID();
    await bus.request('connection.connections.lock', {
      orgId,
      connectionId: connection.id,
      sagaId: switched,
      purpose: 'changeUser',
      expectedExternalAccountId: 'u-alice',
      idempotencyKey: `${switched}:lock`,
    });
    await completeReconnect(orgId, connection.id, switched, {
      action: 'changeUser',
      externalAccountId: 'u-bob',
      tenantId: 'acme',
    });
    const late = randomUUID();
    const lockAs = (expected: string | null, key: string) =>
      bus.request('connection.connections.lock', {
        orgId,
        connectionId: connection.id,
        sagaId: late,
        purpose: 'reconnect',
        expectedExternalAccountId: expected,
        idempotencyKey: `${late}:${key}`,
      });
    expect(await errorOf(lockAs('u-alice', 'lock'))).toMatchObject({
      code: 'CONFLICT',
      reason: 'account_changed',
    });
    expect(await errorOf(lockAs(null, 'lock-null'))).toMatchObject({ reason: 'account_changed' });
    expect(await get(orgId, connection.id)).toMatchObject({
      externalAccountId: 'u-bob',
      lockedFor: null,
    });
    // On the account it holds, the lock is taken.
    await expect(lockAs('u-bob', 'lock-bob')).resolves.toMatchObject({
      connection: { lockedFor: 'reconnect', externalAccountId: 'u-bob' },
    });
  });

  it("a change of account does not carry the previous account's label over when the new one has none", async () => {
    const orgId = randomUUID();
    const { connection } = await connected(orgId, { vendor: 'google', tenantId: 'acme' });
    const saga = randomUUID();
    await lock(orgId, connection.id, saga, 'changeUser');
    // The new identity has no label of its own (a hidden profile email): the edge sends none.
    const done = await completeReconnect(orgId, connection.id, saga, {
      action: 'changeUser',
      externalAccountId: 'u-bob',
      tenantId: 'acme',
      details: {},
    });
    expect(done.connection.details).toEqual({ siteName: 'Acme' });
    expect((await get(orgId, connection.id)).details).toEqual({ siteName: 'Acme' });
    // The new account's own label is recorded; a reconnect of the same account keeps a label given again.
    const next = randomUUID();
    await lock(orgId, connection.id, next, 'changeUser');
    const carol = await completeReconnect(orgId, connection.id, next, {
      action: 'changeUser',
      externalAccountId: 'u-carol',
      tenantId: 'acme',
      details: { accountLabel: 'Carol Chen' },
    });
    expect(carol.connection.details).toEqual({ siteName: 'Acme', accountLabel: 'Carol Chen' });
    const again = randomUUID();
    await lock(orgId, connection.id, again, 'reconnect');
    const same = await completeReconnect(orgId, connection.id, again, {
      externalAccountId: 'u-carol',
      tenantId: 'acme',
      details: { accountLabel: 'Carol Chen' },
    });
    expect(same.connection.details).toEqual({ siteName: 'Acme', accountLabel: 'Carol Chen' });
    // Another account with the same label (Slack's is the team's name) keeps it: it is the new account's own.
    const team = randomUUID();
    await lock(orgId, connection.id, team, 'changeUser');
    const dave = await completeReconnect(orgId, connection.id, team, {
      action: 'changeUser',
      externalAccountId: 'u-dave',
      tenantId: 'acme',
      details: { accountLabel: 'Carol Chen' },
    });
    expect(dave.connection.details).toEqual({ siteName: 'Acme', accountLabel: 'Carol Chen' });
  });

  it('a refresh expiry reported late for a token a reconnect replaced flags nothing; one for the current token does', async () => {
    const orgId = randomUUID();
    const { connection } = await connected(orgId, { vendor: 'google', tenantId: 'acme' });
    const oldRefresh = randomUUID();
    const oldAccess = randomUUID();
    const newRefresh = randomUUID();
    const mark = (credentialId: string) =>
      bus.request('connection.connections.mark-refresh-expired', {
        orgId,
        connectionId: connection.id,
        eventId: randomUUID(),
        credentialId,
      });
    // The old refresh token died: flagged; the user reconnects, which retires the old tokens.
    await mark(oldRefresh);
    expect((await get(orgId, connection.id)).refreshTokenExpired).toBe(true);
    const saga = randomUUID();
    await lock(orgId, connection.id, saga, 'reconnect');
    await completeReconnect(orgId, connection.id, saga, {
      tenantId: 'acme',
      retiredCredentialIds: [oldRefresh, oldAccess],
    });
    expect((await get(orgId, connection.id)).refreshTokenExpired).toBe(false);
    // The vault read the old token before the swap and reports it after complete-reconnect.
    expect(await errorOf(mark(oldRefresh))).toMatchObject({
      code: 'CONFLICT',
      reason: 'credential_replaced',
    });
    expect((await get(orgId, connection.id)).refreshTokenExpired).toBe(false);
    // The current token dying still flags the connection.
    await expect(mark(newRefresh)).resolves.toMatchObject({ changed: true });
    expect((await get(orgId, connection.id)).refreshTokenExpired).toBe(true);
  });

  it('answers UNAVAILABLE when the event cannot be published; a replay publishes the same event', async () => {
    const orgId = randomUUID();
    const { connection } = await connected(orgId);
    const saga = randomUUID();
    await lock(orgId, connection.id, saga);
    const eventId = randomUUID();
    // JetStream refuses the publish (the stream no longer captures the subject): a deleted stream would be
    // created again by the publisher.
    const restore = await refuseStreamPublishes(nc, 'INTEGRATIONS');
    try {
      expect(
        await errorOf(completeReconnect(orgId, connection.id, saga, { eventId })),
      ).toMatchObject({ code: 'UNAVAILABLE', reason: 'event_publish_failed' });
      // Committed: only the event is owed.
      expect(await get(orgId, connection.id)).toMatchObject({ lockedFor: null });
    } finally {
      await restore();
    }
    const retried = await completeReconnect(orgId, connection.id, saga, { eventId });
    expect(retried.connection.lockedFor).toBeNull();
    const events = await reconnectEvents(connection.id);
    expect(events.map((e) => [e.subject, e.msgId, e.event.eventId])).toEqual([
      ['integrations.connection.reconnected', eventId, eventId],
    ]);
  });

  it('answers malformed payloads with a typed BAD_REQUEST and changes nothing', async () => {
    const orgId = randomUUID();
    const { connection } = await connected(orgId);
    const sagaId = randomUUID();
    const base = { orgId, connectionId: connection.id, sagaId, idempotencyKey: 'k' };
    const complete = {
      ...base,
      action: 'reconnect',
      externalAccountId: 'u-alice',
      tenantId: null,
      eventId: randomUUID(),
      actorUserId: randomUUID(),
    };
    const cases: [string, unknown][] = [
      ['connection.connections.lock', { ...base }],
      ['connection.connections.lock', { ...base, purpose: 'disconnect' }],
      ['connection.connections.lock', { ...base, purpose: 'reconnect', sagaId: 'x' }],
      ['connection.connections.lock', { ...base, purpose: 'reconnect', idempotencyKey: '' }],
      ['connection.connections.lock', { ...base, purpose: 'reconnect', extra: 1 }],
      ['connection.connections.unlock', { ...base, sagaId: undefined }],
      ['connection.connections.unlock', { ...base, connectionId: 'nope' }],
      ['connection.connections.unlock', { ...base, purpose: 'reconnect' }],
      ['connection.connections.complete-reconnect', { ...complete, action: 'connect' }],
      ['connection.connections.complete-reconnect', { ...complete, externalAccountId: '' }],
      ['connection.connections.complete-reconnect', { ...complete, eventId: 'x' }],
      ['connection.connections.complete-reconnect', { ...complete, actorUserId: undefined }],
      ['connection.connections.complete-reconnect', { ...complete, details: { accessToken: 'x' } }],
      ['connection.connections.complete-reconnect', { ...complete, refreshTokenExpired: true }],
    ];
    const snapshot = () =>
      db.query(
        `select c.*, (select count(*) from connection.processed_command) as commands
           from connection.integration_connection c where c.id = $1`,
        [connection.id],
      );
    const before = await snapshot();
    for (const [subject, body] of cases) {
      const msg = await nc.request(subject, new TextEncoder().encode(JSON.stringify(body)), {
        timeout: 3_000,
      });
      expect(
        msg.headers?.get('Nats-Service-Error-Code'),
        `${subject} ${JSON.stringify(body)}`,
      ).toBe('400');
      expect(JSON.parse(new TextDecoder().decode(msg.data))).toMatchObject({
        error: { code: 'BAD_REQUEST' },
      });
    }
    expect(await snapshot()).toEqual(before);
  });
});

const ok = (value: unknown): PromiseFulfilledResult<unknown> => ({ status: 'fulfilled', value });
const ko = (reason: unknown): PromiseRejectedResult => ({ status: 'rejected', reason });
