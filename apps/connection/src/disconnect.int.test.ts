import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import pg from 'pg';
import type { TReplyOf, TRequestInput } from '@otesse/contracts';
import type { Bus } from '@otesse/messaging';
import { openOrm, runSqlCommandOnce } from '@otesse/persistence';
import { errorOf, waitFor, type TTestDatabase } from '@otesse/testing';
import {
  connectedConnection,
  startConnectionTestBed,
  type TConnectionTestBed,
} from './test/connection-test-bed';

/** The disconnect saga's commands to the connection service (issue 5 steps 1 and 5, and the compensation). */
describe('disconnect commands of the connection service (real Postgres + NATS)', () => {
  let bed: TConnectionTestBed;
  let db: TTestDatabase;
  let bus: Bus;
  let nc: NatsConnection;

  beforeAll(async () => {
    bed = await startConnectionTestBed('connection-disconnect-test', {
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
      vendor: 'google',
      level: 'user',
      userId: randomUUID(),
      externalAccountId: 'acct',
      tenantId: 'acme',
      ...over,
    });

  const cmd = (orgId: string, connectionId: string, sagaId: string, step: string) => ({
    orgId,
    connectionId,
    sagaId,
    idempotencyKey: `${sagaId}:${step}`,
  });
  const begin = (orgId: string, connectionId: string, sagaId: string, key = 'lock') =>
    bus.request('connection.connections.begin-disconnect', cmd(orgId, connectionId, sagaId, key));
  const cancel = (orgId: string, connectionId: string, sagaId: string, key = 'unlock') =>
    bus.request('connection.connections.cancel-disconnect', cmd(orgId, connectionId, sagaId, key));
  const complete = (orgId: string, connectionId: string, sagaId: string, key = 'statuses') =>
    bus.request(
      'connection.connections.complete-disconnect',
      cmd(orgId, connectionId, sagaId, key),
    );
  const instanceState = async (instanceId: string) => {
    const [row] = await db.query<{
      status: string;
      previous_status: string | null;
      health: string;
      checks_enabled: boolean;
      webhook: string | null;
    }>(
      `select i.status, i.previous_status, h.status as health, h.checks_enabled, w.status as webhook
         from connection.integration_instance i
         join connection.integration_health h on h.instance_id = i.id
         left join connection.webhook_endpoint w on w.instance_id = i.id
        where i.id = $1`,
      [instanceId],
    );
    return row!;
  };

  it('begin-disconnect takes the semantic lock once; the slot cannot be reconnected meanwhile', async () => {
    const orgId = randomUUID();
    const userId = randomUUID();
    const { connection, instance } = await connected(orgId, { userId });
    const saga = randomUUID();

    const first = await begin(orgId, connection.id, saga);
    expect(first.connection).toMatchObject({ id: connection.id, status: 'disconnecting' });
    expect(first.instance).toMatchObject({ id: instance.id, status: 'connected' });
    // The instance's last live connection: the instance is held for this saga (its statuses will revoke it).
    expect(first.instanceRevoking).toBe(true);
    // A replay with the same key answers the first reply, even after the state moved on.
    const replay = await begin(orgId, connection.id, saga);
    expect(replay).toEqual(first);
    // The same saga under another key (a re-run step) is answered as done; another saga is refused.
    await expect(begin(orgId, connection.id, saga, 'lock-again')).resolves.toMatchObject({
      connection: { status: 'disconnecting' },
    });
    expect(await errorOf(begin(orgId, connection.id, randomUUID()))).toMatchObject({
      code: 'CONFLICT',
      reason: 'already_disconnecting',
    });
    // No connect on the locked slot while the saga runs, and, the instance being held, on no other slot either.
    const connectAs = (who: string) =>
      bus.request('connection.connections.create', {
        orgId,
        vendor: 'google',
        level: 'user',
        userId: who,
        externalAccountId: null,
        tenantId: 'acme',
      });
    expect(await errorOf(connectAs(userId))).toMatchObject({
      code: 'CONFLICT',
      reason: 'disconnect_in_progress',
    });
    expect(await errorOf(connectAs(randomUUID()))).toMatchObject({
      code: 'CONFLICT',
      reason: 'disconnect_in_progress',
    });

    const [row] = await db.query<{ disconnect_saga_id: string; status_before_disconnect: string }>(
      'select disconnect_saga_id, status_before_disconnect from connection.integration_connection where id = $1',
      [connection.id],
    );
    expect(row).toEqual({ disconnect_saga_id: saga, status_before_disconnect: 'connected' });
    // The compensation lifts both: the connection is back and the instance takes connects again.
    await cancel(orgId, connection.id, saga);
    await expect(connectAs(randomUUID())).resolves.toMatchObject({
      connection: { status: 'pending' },
    });
  });

  it('holds the instance only for its last live connection: with another user connected, other slots stay free', async () => {
    const orgId = randomUUID();
    const { connection } = await connected(orgId, { vendor: 'jira' });
    await connected(orgId, { vendor: 'jira' });
    const saga = randomUUID();
    const lock = await begin(orgId, connection.id, saga);
    expect(lock.instanceRevoking).toBe(false);
    await expect(connected(orgId, { vendor: 'jira' })).resolves.toMatchObject({
      connection: { status: 'connected' },
    });
    // Its statuses leave the instance connected, as the lock foresaw.
    expect((await complete(orgId, connection.id, saga)).instanceRevoked).toBe(false);
  });

  it("answers who else holds the account's grant, in any org: in begin-disconnect's reply and by count", async () => {
    const account = `grant-${randomUUID()}`;
    const [orgA, orgB] = [randomUUID(), randomUUID()];
    const { connection: a } = await connected(orgA, { externalAccountId: account });
    const holders = (exceptConnectionId?: string) =>
      bus.request('connection.accounts.grant-holders', {
        orgId: orgA,
        vendor: 'google',
        externalAccountId: account,
        ...(exceptConnectionId ? { exceptConnectionId } : {}),
      });
    expect((await holders(a.id)).holders).toEqual({ pending: 0, connected: 0, disconnecting: 0 });
    // The same account connected in another org holds the same grant (one OAuth client per vendor).
    const { connection: b } = await connected(orgB, { externalAccountId: account });
    // Another account, or the same id at another vendor, is not a holder.
    await connected(orgB, { userId: randomUUID(), externalAccountId: `${account}-other` });
    await connected(orgB, { vendor: 'slack', externalAccountId: account });
    expect((await holders(a.id)).holders).toEqual({ pending: 0, connected: 1, disconnecting: 0 });
    expect((await holders()).holders).toEqual({ pending: 0, connected: 2, disconnecting: 0 });
    const sagaB = randomUUID();
    // B's own lock sees A, in the other org: revoking B's tokens would end A's grant.
    expect((await begin(orgB, b.id, sagaB)).accountGrantInUse).toBe(true);
    expect((await holders(a.id)).holders).toEqual({ pending: 0, connected: 0, disconnecting: 1 });
    // A disconnecting connection holds no grant worth keeping: A's lock sees nobody else.
    expect((await begin(orgA, a.id, randomUUID())).accountGrantInUse).toBe(false);
    await complete(orgB, b.id, sagaB);
    expect((await holders()).holders).toEqual({ pending: 0, connected: 0, disconnecting: 1 });
    // A connection without an account read holds nothing of anyone's.
    const { connection: anonymous } = await connected(orgA, {
      vendor: 'jira',
      externalAccountId: null,
    });
    expect((await begin(orgA, anonymous.id, randomUUID())).accountGrantInUse).toBe(false);
    // Bad input is a typed error.
    await expect(
      errorOf(
        bus.request('connection.accounts.grant-holders', {
          orgId: orgA,
          vendor: 'google',
          externalAccountId: '',
        }),
      ),
    ).resolves.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('two disconnects of one account at once, in two orgs, never both answer that the other holds the grant', async () => {
    for (let round = 0; round < 15; round += 1) {
      const account = `race-${randomUUID()}`;
      const [orgA, orgB] = [randomUUID(), randomUUID()];
      const { connection: a } = await connected(orgA, { externalAccountId: account });
      const { connection: b } = await connected(orgB, { externalAccountId: account });
      const [ra, rb] = await Promise.all([
        begin(orgA, a.id, randomUUID()),
        begin(orgB, b.id, randomUUID()),
      ]);
      // One of them takes its turn second and sees the other disconnecting: it is the one that revokes.
      expect([ra.accountGrantInUse, rb.accountGrantInUse].sort()).toEqual([false, true]);
    }
  });

  it('refuses to disconnect an error connection of a held instance until the hold is lifted', async () => {
    const orgId = randomUUID();
    // A connect that failed (its connection `error`), and another user's live connection, the instance's last.
    const failed = await bus.request('connection.connections.create', {
      orgId,
      vendor: 'asana',
      level: 'user',
      userId: randomUUID(),
      externalAccountId: null,
      tenantId: null,
    });
    await bus.request('connection.connections.abandon', {
      orgId,
      connectionId: failed.connection.id,
      reason: 'connect_failed',
    });
    const { connection } = await connected(orgId, { vendor: 'asana' });
    const saga = randomUUID();
    expect((await begin(orgId, connection.id, saga)).instanceRevoking).toBe(true);
    // Disconnecting the error connection would make it live (`disconnecting`) while the instance is held.
    expect(await errorOf(begin(orgId, failed.connection.id, randomUUID()))).toMatchObject({
      code: 'CONFLICT',
      reason: 'disconnect_in_progress',
    });
    expect((await complete(orgId, connection.id, saga)).instanceRevoked).toBe(true);
    await expect(begin(orgId, failed.connection.id, randomUUID())).resolves.toMatchObject({
      connection: { status: 'disconnecting' },
    });
  });

  it('lifts the hold on the instance with the statuses that revoke it', async () => {
    const orgId = randomUUID();
    const { connection, instance } = await connected(orgId, { vendor: 'hubspot' });
    const saga = randomUUID();
    expect((await begin(orgId, connection.id, saga)).instanceRevoking).toBe(true);
    expect((await complete(orgId, connection.id, saga)).instanceRevoked).toBe(true);
    const [held] = await db.query<{ revoking_saga_id: string | null }>(
      'select revoking_saga_id from connection.integration_instance where id = $1',
      [instance.id],
    );
    expect(held).toEqual({ revoking_saga_id: null });
    // Reconnecting reuses the instance, as before.
    await expect(connected(orgId, { vendor: 'hubspot' })).resolves.toMatchObject({
      instance: { id: instance.id, status: 'connected' },
    });
  });

  it('refuses pending and revoked connections, and another org, with typed errors', async () => {
    const orgId = randomUUID();
    const pending = await bus.request('connection.connections.create', {
      orgId,
      vendor: 'slack',
      level: 'app',
      userId: randomUUID(),
      externalAccountId: null,
      tenantId: null,
    });
    expect(await errorOf(begin(orgId, pending.connection.id, randomUUID()))).toMatchObject({
      code: 'CONFLICT',
      reason: 'not_connected',
    });
    const { connection } = await connected(orgId, { vendor: 'salesforce' });
    const saga = randomUUID();
    await begin(orgId, connection.id, saga);
    await complete(orgId, connection.id, saga);
    expect(await errorOf(begin(orgId, connection.id, randomUUID()))).toMatchObject({
      code: 'CONFLICT',
      reason: 'not_connected',
    });
    const other = await connected(orgId, { vendor: 'hubspot' });
    expect(await errorOf(begin(randomUUID(), other.connection.id, randomUUID()))).toMatchObject({
      code: 'NOT_FOUND',
    });
    expect(await errorOf(cancel(randomUUID(), other.connection.id, randomUUID()))).toMatchObject({
      code: 'NOT_FOUND',
    });
    expect(await errorOf(complete(randomUUID(), other.connection.id, randomUUID()))).toMatchObject({
      code: 'NOT_FOUND',
    });
    // Nothing changed for its owner.
    const own = await bus.request('connection.connections.get', {
      orgId,
      connectionId: other.connection.id,
    });
    expect(own.connection.status).toBe('connected');
  });

  it('begin-disconnect authorizes its actor: own user-level connection, or anyone with settings.edit', async () => {
    const orgId = randomUUID();
    const owner = randomUUID();
    const stranger = randomUUID();
    const asActor = (connectionId: string, userId: string, mayManageOthers: boolean) =>
      bus.request('connection.connections.begin-disconnect', {
        ...cmd(orgId, connectionId, randomUUID(), 'lock'),
        actor: { userId, mayManageOthers },
      });
    const status = async (id: string) =>
      (await bus.request('connection.connections.get', { orgId, connectionId: id })).connection
        .status;
    const personal = await connected(orgId, { userId: owner });
    const app = await connected(orgId, { vendor: 'slack', level: 'app', userId: owner });
    // Someone else's personal connection, and the org's app-level one (even its creator's): FORBIDDEN, unchanged.
    for (const [id, userId] of [
      [personal.connection.id, stranger],
      [app.connection.id, owner],
    ] as const) {
      expect(await errorOf(asActor(id, userId, false))).toMatchObject({
        code: 'FORBIDDEN',
        reason: 'not_owner',
      });
      expect(await status(id)).toBe('connected');
    }
    // Bad input is refused before anything is read.
    expect(
      await errorOf(
        bus.request('connection.connections.begin-disconnect', {
          ...cmd(orgId, personal.connection.id, randomUUID(), 'lock'),
          actor: { userId: 'me', mayManageOthers: true },
        } as never),
      ),
    ).toMatchObject({ code: 'BAD_REQUEST' });
    // Another org, even with settings.edit: NOT_FOUND.
    expect(
      await errorOf(
        bus.request('connection.connections.begin-disconnect', {
          ...cmd(randomUUID(), personal.connection.id, randomUUID(), 'lock'),
          actor: { userId: owner, mayManageOthers: true },
        }),
      ),
    ).toMatchObject({ code: 'NOT_FOUND' });
    // The owner locks their own; settings.edit locks the app-level one.
    await expect(asActor(personal.connection.id, owner, false)).resolves.toMatchObject({
      connection: { status: 'disconnecting', userId: owner, level: 'user' },
    });
    await expect(asActor(app.connection.id, stranger, true)).resolves.toMatchObject({
      connection: { status: 'disconnecting', level: 'app' },
    });
  });

  it("cancel-disconnect lifts only this saga's lock, back to the status it left; idempotent", async () => {
    const orgId = randomUUID();
    const { connection } = await connected(orgId);
    const saga = randomUUID();
    await begin(orgId, connection.id, saga);
    // Another saga's compensation never lifts this saga's lock.
    const foreign = await cancel(orgId, connection.id, randomUUID());
    expect(foreign.connection.status).toBe('disconnecting');

    const lifted = await cancel(orgId, connection.id, saga);
    expect(lifted.connection.status).toBe('connected');
    expect(await cancel(orgId, connection.id, saga)).toEqual(lifted);
    // A later saga may lock it again; a late replay of the first cancel changes nothing.
    const later = randomUUID();
    await begin(orgId, connection.id, later);
    expect((await cancel(orgId, connection.id, saga)).connection.status).toBe('connected');
    expect(
      (await bus.request('connection.connections.get', { orgId, connectionId: connection.id }))
        .connection.status,
    ).toBe('disconnecting');
    expect((await cancel(orgId, connection.id, saga, 'unlock-2')).connection.status).toBe(
      'disconnecting',
    );
    const [row] = await db.query<{ disconnect_saga_id: string }>(
      'select disconnect_saga_id from connection.integration_connection where id = $1',
      [connection.id],
    );
    expect(row?.disconnect_saga_id).toBe(later);
  });

  /** What a disconnect holds: the connection's lock and the instance's hold. */
  const holds = async (connectionId: string) =>
    (
      await db.query<{
        status: string;
        disconnect_saga_id: string | null;
        revoking: string | null;
      }>(
        `select c.status, c.disconnect_saga_id, i.revoking_saga_id as revoking
           from connection.integration_connection c
           join connection.integration_instance i on i.id = c.instance_id
          where c.id = $1`,
        [connectionId],
      )
    )[0]!;

  /** Sessions of the test database waiting for a lock (a row lock, or a key another transaction inserted). */
  const lockWaiters = async () =>
    (
      await db.query<{ n: number }>(
        `select count(*)::int as n from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock'`,
      )
    )[0]!.n;

  it("a begin-disconnect that arrives after its saga's compensation locks nothing: the connection stays connected", async () => {
    const orgId = randomUUID();
    const { connection, instance } = await connected(orgId);
    const saga = randomUUID();
    // The lock's attempts timed out before it reached the service; the saga compensated and ended.
    expect((await cancel(orgId, connection.id, saga, 'lock:compensate')).connection.status).toBe(
      'connected',
    );
    const late = await begin(orgId, connection.id, saga);
    expect(late).toMatchObject({
      connection: { id: connection.id, status: 'connected' },
      instance: { id: instance.id },
      instanceRevoking: false,
    });
    expect(await begin(orgId, connection.id, saga)).toEqual(late);
    expect(await holds(connection.id)).toEqual({
      status: 'connected',
      disconnect_saga_id: null,
      revoking: null,
    });
    // Another disconnect may go on.
    await expect(begin(orgId, connection.id, randomUUID())).resolves.toMatchObject({
      connection: { status: 'disconnecting' },
      instanceRevoking: true,
    });
  });

  it("a begin-disconnect waiting behind its saga's compensation (on the instance's row lock) locks nothing", async () => {
    const orgId = randomUUID();
    const { connection, instance } = await connected(orgId);
    const saga = randomUUID();
    // Another session holds the instance's row lock: the compensation waits for it, then the late begin (past its
    // key check) behind the compensation.
    const holder = new pg.Client({ connectionString: db.adminUrl });
    await holder.connect();
    let cancelled: Promise<unknown> | undefined;
    let began: Promise<unknown> | undefined;
    try {
      await holder.query('begin');
      await holder.query(
        'select id from connection.integration_instance where id = $1 for update',
        [instance.id],
      );
      cancelled = cancel(orgId, connection.id, saga, 'lock:compensate').catch((e) => e);
      await waitFor(async () => (await lockWaiters()) >= 1, { what: 'the compensation to wait' });
      began = begin(orgId, connection.id, saga).catch((e) => e);
      await waitFor(async () => (await lockWaiters()) >= 2, { what: 'the begin to wait' });
      await holder.query('commit');
    } finally {
      await holder.end();
    }
    expect(await cancelled).toMatchObject({ connection: { status: 'connected' } });
    expect(await began).toMatchObject({
      connection: { status: 'connected' },
      instanceRevoking: false,
    });
    expect(await holds(connection.id)).toEqual({
      status: 'connected',
      disconnect_saga_id: null,
      revoking: null,
    });
  });

  it('a begin-disconnect in flight when its compensation comes is waited for and lifted', async () => {
    const orgId = randomUUID();
    const { connection } = await connected(orgId);
    const saga = randomUUID();
    // The begin holds the instance's lock and waits for the connection's; the compensation waits behind it.
    const holder = new pg.Client({ connectionString: db.adminUrl });
    await holder.connect();
    let began: Promise<unknown> | undefined;
    let cancelled: Promise<unknown> | undefined;
    try {
      await holder.query('begin');
      await holder.query(
        'select id from connection.integration_connection where id = $1 for update',
        [connection.id],
      );
      began = begin(orgId, connection.id, saga).catch((e) => e);
      await waitFor(async () => (await lockWaiters()) >= 1, { what: 'the begin to wait' });
      cancelled = cancel(orgId, connection.id, saga, 'lock:compensate').catch((e) => e);
      await waitFor(async () => (await lockWaiters()) >= 2, { what: 'the compensation to wait' });
      await holder.query('commit');
    } finally {
      await holder.end();
    }
    expect(await began).toMatchObject({ connection: { status: 'disconnecting' } });
    expect(await cancelled).toMatchObject({ connection: { status: 'connected' } });
    expect(await holds(connection.id)).toEqual({
      status: 'connected',
      disconnect_saga_id: null,
      revoking: null,
    });
  });

  it("revokes a personal connection only while another user's keeps the instance connected; the last one revokes the instance", async () => {
    const orgId = randomUUID();
    const alice = await connected(orgId, { vendor: 'servicenow', level: 'user' });
    const bob = await connected(orgId, { vendor: 'servicenow', level: 'user' });
    const instanceId = alice.instance.id;
    expect(bob.instance.id).toBe(instanceId);
    expect(await instanceState(instanceId)).toMatchObject({
      status: 'connected',
      health: 'healthy',
      checks_enabled: true,
      webhook: 'enabled',
    });

    const sagaA = randomUUID();
    await begin(orgId, alice.connection.id, sagaA);
    const doneA = await complete(orgId, alice.connection.id, sagaA);
    expect(doneA).toMatchObject({
      connection: { id: alice.connection.id, status: 'revoked' },
      instance: {
        id: instanceId,
        status: 'connected',
        health: 'healthy',
        healthChecksEnabled: true,
      },
      instanceRevoked: false,
      webhooksDisabled: 0,
      healthChecksStopped: false,
    });
    expect(doneA.connection.revokedAt).not.toBeNull();
    // Bob's connection, the instance's webhooks and health checks are untouched.
    expect(await instanceState(instanceId)).toMatchObject({
      status: 'connected',
      checks_enabled: true,
      webhook: 'enabled',
    });
    expect(
      (await bus.request('connection.connections.get', { orgId, connectionId: bob.connection.id }))
        .connection.status,
    ).toBe('connected');

    const sagaB = randomUUID();
    await begin(orgId, bob.connection.id, sagaB);
    const doneB = await complete(orgId, bob.connection.id, sagaB);
    expect(doneB).toMatchObject({
      connection: { status: 'revoked' },
      instance: { status: 'revoked', health: 'unknown', healthChecksEnabled: false },
      instanceRevoked: true,
      webhooksDisabled: 1,
      healthChecksStopped: true,
    });
    // Rows kept: the instance, both connections (revoked), the webhook endpoint (disabled).
    expect(await instanceState(instanceId)).toEqual({
      status: 'revoked',
      previous_status: null,
      health: 'unknown',
      checks_enabled: false,
      webhook: 'disabled',
    });
    const got = await bus.request('connection.instances.get', { orgId, vendor: 'servicenow' });
    expect(got.connections.map((c) => c.status)).toEqual(['revoked', 'revoked']);
    expect(got.webhookEndpoint?.status).toBe('disabled');

    // Replays answer the first reply; the same saga under another key answers the state, changing nothing.
    expect(await complete(orgId, bob.connection.id, sagaB)).toEqual(doneB);
    expect(await complete(orgId, bob.connection.id, sagaB, 'statuses-again')).toMatchObject({
      instanceRevoked: true,
      webhooksDisabled: 0,
      healthChecksStopped: true,
    });
    expect(await complete(orgId, alice.connection.id, sagaA)).toEqual(doneA);
  });

  it('connections of one instance disconnected at once: the last one revokes the instance, exactly once', async () => {
    // The fast path (another connection still connected: no instance lock) racing the connection that turns out
    // last, in whichever order the row locks let them through.
    for (let round = 0; round < 12; round += 1) {
      const orgId = randomUUID();
      const all = [await connected(orgId), await connected(orgId), await connected(orgId)];
      const [a, b, c] = all.map((x) => x.connection.id) as [string, string, string];
      const instanceId = all[0]!.instance.id;
      const [sa, sb, sc] = [randomUUID(), randomUUID(), randomUUID()];
      await begin(orgId, a, sa);
      const results = await Promise.all([
        complete(orgId, a, sa),
        begin(orgId, b, sb).then(() => complete(orgId, b, sb)),
        begin(orgId, c, sc).then(() => complete(orgId, c, sc)),
      ]);
      expect(results.map((r) => r.connection.status)).toEqual(['revoked', 'revoked', 'revoked']);
      expect(results.filter((r) => r.instanceRevoked)).toHaveLength(1);
      expect((await instanceState(instanceId)).status).toBe('revoked');
    }
  });

  it('the fast path holds its witness: the witness cannot begin a disconnect until the revocation commits', async () => {
    const orgId = randomUUID();
    const a = (await connected(orgId)).connection.id;
    const b = (await connected(orgId)).connection.id;
    const [sa, sb] = [randomUUID(), randomUUID()];
    await begin(orgId, a, sa);
    // a's step 5 inside a transaction left open: b (connected) is its witness.
    const client = new pg.Client({ connectionString: db.adminUrl });
    await client.connect();
    try {
      await client.query('begin');
      const { rows } = await client.query<{ r: { result: { instanceRevoked: boolean } } }>(
        'select "connection".complete_disconnect($1, $2, $3, $4) as r',
        [`${sa}:statuses`, orgId, a, sa],
      );
      expect(rows[0]!.r.result.instanceRevoked).toBe(false);
      let began = false;
      const beganB = begin(orgId, b, sb).then((x) => {
        began = true;
        return x;
      });
      await waitFor(
        async () =>
          (
            await db.query<{ n: number }>(
              `select count(*)::int as n from pg_stat_activity
                where wait_event_type = 'Lock' and query like '%begin_disconnect%'`,
            )
          )[0]!.n === 1,
        { what: "b's begin-disconnect waiting on the witness lock" },
      );
      expect(began).toBe(false);
      await client.query('commit');
      await beganB;
    } finally {
      await client.end();
    }
    // b is the last one and sees a revoked: it revokes the instance.
    await expect(complete(orgId, b, sb)).resolves.toMatchObject({ instanceRevoked: true });
  });

  it('a fast path that finds no witness leaves no lock behind: no deadlock with the last connection', async () => {
    // Found by the full suite (deadlock detected): a's fast path waited to share-lock b, a begin in flight; once b
    // was disconnecting it was no witness, but the lock stayed while a took the locked path. b's own step 5 held the
    // instance and waited for b's row: a cycle.
    const orgId = randomUUID();
    const a = (await connected(orgId)).connection.id;
    const { connection, instance } = await connected(orgId);
    const b = connection.id;
    const [sa, sb] = [randomUUID(), randomUUID()];
    await begin(orgId, a, sa);
    const inFlight = new pg.Client({ connectionString: db.adminUrl });
    const instanceHolder = new pg.Client({ connectionString: db.adminUrl });
    await Promise.all([inFlight.connect(), instanceHolder.connect()]);
    const waiting = async (n: number, like: string) =>
      waitFor(
        async () =>
          (
            await db.query<{ n: number }>(
              `select count(*)::int as n from pg_stat_activity
                where wait_event_type = 'Lock' and query like $1`,
              [like],
            )
          )[0]!.n === n,
        { what: `${n} waiting on ${like}` },
      );
    try {
      // b's begin-disconnect, in flight; the instance's row held, so the order of what follows is fixed.
      await inFlight.query('begin');
      await inFlight.query(
        `update connection.integration_connection set status = 'disconnecting', status_before_disconnect = status,
           disconnect_saga_id = $2 where id = $1`,
        [b, sb],
      );
      await instanceHolder.query('begin');
      await instanceHolder.query(
        'select 1 from connection.integration_instance where id = $1 for update',
        [instance.id],
      );
      // b's step 5 sees b connected (the begin is not committed): locked path, first in line for the instance.
      const completeB = complete(orgId, b, sb);
      await waiting(1, '%complete_disconnect%');
      // a's step 5: its fast path waits for b, the would-be witness.
      const completeA = complete(orgId, a, sa);
      await waiting(2, '%complete_disconnect%');
      await inFlight.query('commit');
      await instanceHolder.query('commit');
      const [doneA, doneB] = await Promise.all([completeA, completeB]);
      expect([doneA.connection.status, doneB.connection.status]).toEqual(['revoked', 'revoked']);
      expect([doneA.instanceRevoked, doneB.instanceRevoked].filter(Boolean)).toHaveLength(1);
      expect((await instanceState(instance.id)).status).toBe('revoked');
    } finally {
      await Promise.all([inFlight.end(), instanceHolder.end()]);
    }
  });

  it("a command chosen as a deadlock's victim runs again (runSqlCommandOnce), so both callers are answered", async () => {
    // Two commands that lock two rows in opposite orders: Postgres aborts one; its whole transaction is undone.
    await db.query(`create table connection.test_pair (id int primary key)`);
    await db.query(`insert into connection.test_pair values (1), (2)`);
    await db.query(`grant select, update on connection.test_pair to otesse_connection`);
    await db.query(`create function connection.test_lock_pair(p_first int, p_second int) returns jsonb
      language plpgsql as $$ begin
        perform 1 from connection.test_pair where id = p_first for update;
        perform pg_sleep(0.3);
        perform 1 from connection.test_pair where id = p_second for update;
        return jsonb_build_object('subject', 'test.pair', 'result', jsonb_build_object('first', p_first),
          'replayed', false);
      end $$`);
    const orm = await openOrm({
      url: db.urlFor('connection'),
      schema: 'connection',
      entities: [],
      migrations: [],
    });
    try {
      const knex = orm.em.getConnection().getKnex();
      const pair = (first: number, second: number) =>
        runSqlCommandOnce<{ first: number }>(knex, {
          name: 'test.lock_pair',
          text: 'select connection.test_lock_pair($1, $2) as r',
          values: [first, second],
          subject: 'test.pair',
        });
      const results = await Promise.all([pair(1, 2), pair(2, 1)]);
      expect(results.map((r) => r.result)).toEqual([{ first: 1 }, { first: 2 }]);
    } finally {
      await orm.close(true);
      await db.query(`drop function connection.test_lock_pair(int, int)`);
      await db.query(`drop table connection.test_pair`);
    }
  });

  it('complete-disconnect refuses without the lock, and under another saga', async () => {
    const orgId = randomUUID();
    const { connection } = await connected(orgId);
    expect(await errorOf(complete(orgId, connection.id, randomUUID()))).toMatchObject({
      code: 'CONFLICT',
      reason: 'not_disconnecting',
    });
    const saga = randomUUID();
    await begin(orgId, connection.id, saga);
    expect(await errorOf(complete(orgId, connection.id, randomUUID()))).toMatchObject({
      code: 'CONFLICT',
      reason: 'already_disconnecting',
    });
    // A refused command records nothing under its key: the right saga completes.
    await expect(complete(orgId, connection.id, saga)).resolves.toMatchObject({
      connection: { status: 'revoked' },
    });
  });

  it('answers a reused idempotency key (other connection or other command) with CONFLICT', async () => {
    const orgId = randomUUID();
    const a = await connected(orgId);
    const b = await connected(orgId);
    const saga = randomUUID();
    await begin(orgId, a.connection.id, saga);
    expect(await errorOf(begin(orgId, b.connection.id, saga))).toMatchObject({
      code: 'CONFLICT',
      reason: 'idempotency_key_reused',
    });
    expect(
      await errorOf(
        bus.request('connection.connections.complete-disconnect', {
          ...cmd(orgId, a.connection.id, saga, 'lock'),
        }),
      ),
    ).toMatchObject({ code: 'CONFLICT', reason: 'idempotency_key_reused' });
    expect(
      (await bus.request('connection.connections.get', { orgId, connectionId: b.connection.id }))
        .connection.status,
    ).toBe('connected');
  });

  it('answers 20 concurrent duplicates of one command with the same reply, doing it once', async () => {
    const orgId = randomUUID();
    const { connection } = await connected(orgId);
    const saga = randomUUID();
    const replies = await Promise.all(
      Array.from({ length: 20 }, () => begin(orgId, connection.id, saga)),
    );
    for (const r of replies) expect(r).toEqual(replies[0]);
    await begin(orgId, connection.id, saga);
    const all = await Promise.all(
      Array.from({ length: 20 }, () => complete(orgId, connection.id, saga)),
    );
    for (const r of all) expect(r).toEqual(all[0]);
    expect(all[0]).toMatchObject({ instanceRevoked: true, webhooksDisabled: 1 });
    const [n] = await db.query<{ n: number }>(
      `select count(*)::int as n from connection.processed_command where key like $1`,
      [`${saga}:%`],
    );
    expect(n?.n).toBe(2);
  });

  it('reconnect after disconnect reuses the instance: revoked → pending → connected', async () => {
    const orgId = randomUUID();
    const userId = randomUUID();
    const first = await connected(orgId, { vendor: 'confluence', level: 'app', userId });
    const saga = randomUUID();
    await begin(orgId, first.connection.id, saga);
    await complete(orgId, first.connection.id, saga);
    expect(await instanceState(first.instance.id)).toMatchObject({
      status: 'revoked',
      webhook: 'disabled',
    });

    const again = await bus.request('connection.connections.create', {
      orgId,
      vendor: 'confluence',
      level: 'app',
      userId,
      externalAccountId: 'acct',
      tenantId: 'acme',
    });
    expect(again.instance).toMatchObject({ id: first.instance.id, status: 'pending' });
    const activated = await bus.request('connection.connections.activate', {
      orgId,
      connectionId: again.connection.id,
      eventId: randomUUID(),
    });
    expect(activated.instance).toMatchObject({
      id: first.instance.id,
      status: 'connected',
      health: 'healthy',
      healthChecksEnabled: true,
    });
    expect(await instanceState(first.instance.id)).toMatchObject({ webhook: 'enabled' });
    const [count] = await db.query<{ n: number }>(
      'select count(*)::int as n from connection.integration_instance where org_id = $1',
      [orgId],
    );
    expect(count?.n).toBe(1);
  });

  it('mark-refresh-expired flags once and publishes one event; a repeat answers the same and publishes nothing more', async () => {
    const orgId = randomUUID();
    const { connection, instance } = await connected(orgId, { vendor: 'servicenow' });
    const eventId = randomUUID();
    const first = await bus.request('connection.connections.mark-refresh-expired', {
      orgId,
      connectionId: connection.id,
      eventId,
    });
    expect(first).toMatchObject({
      changed: true,
      eventId,
      connection: { refreshTokenExpired: true },
    });
    const second = await bus.request('connection.connections.mark-refresh-expired', {
      orgId,
      connectionId: connection.id,
      eventId: randomUUID(),
    });
    expect(second).toMatchObject({ changed: false, eventId, expiredAt: first.expiredAt });

    const jsm = await nc.jetstreamManager();
    const { state } = await jsm.streams.info('INTEGRATIONS');
    const events = [];
    for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
      const m = await jsm.streams.getMessage('INTEGRATIONS', { seq }).catch(() => undefined);
      if (m?.subject !== 'integrations.connection.refresh_token_expired') continue;
      const e = m.json<{ connectionId: string }>();
      if (e.connectionId === connection.id) events.push({ e, msgId: m.header?.get('Nats-Msg-Id') });
    }
    expect(events).toEqual([
      {
        msgId: eventId,
        e: {
          eventId,
          occurredAt: first.expiredAt,
          orgId,
          vendor: 'servicenow',
          instanceId: instance.id,
          connectionId: connection.id,
          level: 'user',
          userId: connection.userId,
        },
      },
    ]);
    const listed = await bus.request('connection.integrations.list', { orgId });
    expect(listed.instances[0]?.connections[0]?.refreshTokenExpired).toBe(true);
    expect(
      await errorOf(
        bus.request('connection.connections.mark-refresh-expired', {
          orgId: randomUUID(),
          connectionId: connection.id,
          eventId,
        }),
      ),
    ).toMatchObject({ code: 'NOT_FOUND' });
  });

  it("lists the ended connections a caller names, not the org's whole history, when asked so", async () => {
    const orgId = randomUUID();
    const live = await connected(orgId);
    const ended: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const { connection } = await connected(orgId);
      const saga = randomUUID();
      await begin(orgId, connection.id, saga);
      await complete(orgId, connection.id, saga);
      ended.push(connection.id);
    }
    const idsOf = (r: TReplyOf<'connection.integrations.list'>) =>
      r.instances.flatMap((i) => i.connections.map((c) => c.id)).sort();
    // Unset (callers before the field): every connection, revoked ones included.
    expect(idsOf(await bus.request('connection.integrations.list', { orgId }))).toEqual(
      [live.connection.id, ...ended].sort(),
    );
    // Named: the live ones and those named only; none named: the live ones.
    expect(
      idsOf(
        await bus.request('connection.integrations.list', {
          orgId,
          endedConnectionIds: [ended[1]!, randomUUID()],
        }),
      ),
    ).toEqual([live.connection.id, ended[1]!].sort());
    const liveOnly = await bus.request('connection.integrations.list', {
      orgId,
      endedConnectionIds: [],
    });
    expect(idsOf(liveOnly)).toEqual([live.connection.id]);
    // The instance is listed all the same.
    expect(liveOnly.instances.map((i) => i.instance.id)).toEqual([live.instance.id]);
    expect(
      await errorOf(
        bus.request('connection.integrations.list', {
          orgId,
          endedConnectionIds: ['not-a-uuid'],
        }),
      ),
    ).toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('lists one instance alone when asked so, with its own counts; another org’s instance is not listed', async () => {
    const orgId = randomUUID();
    const viewer = randomUUID();
    const mine = await connected(orgId, { userId: viewer });
    const colleague = await connected(orgId);
    const other = await connected(orgId, { vendor: 'zendesk', userId: viewer });
    const one = await bus.request('connection.integrations.list', {
      orgId,
      instanceId: mine.instance.id,
      endedConnectionIds: [],
      viewer: { userId: viewer, othersLimit: 0 },
    });
    expect(one.instances).toHaveLength(1);
    expect(one.instances[0]).toMatchObject({
      instance: { id: mine.instance.id, vendor: 'google' },
      counts: { connectedUsers: 2, otherMembersLive: 1 },
    });
    // The viewer's own connection; the colleague's is counted, not carried (othersLimit 0).
    expect(one.instances[0]!.connections.map((c) => c.id)).toEqual([mine.connection.id]);
    // Without a viewer: the instance's connections, none of the other instance's.
    const all = await bus.request('connection.integrations.list', {
      orgId,
      instanceId: mine.instance.id,
    });
    expect(all.instances.flatMap((i) => i.connections.map((c) => c.id)).sort()).toEqual(
      [mine.connection.id, colleague.connection.id].sort(),
    );
    expect(
      (
        await bus.request('connection.integrations.list', {
          orgId,
          instanceId: other.instance.id,
          viewer: { userId: viewer, othersLimit: 10 },
        })
      ).instances.map((i) => [i.instance.vendor, i.connections.length]),
    ).toEqual([['zendesk', 1]]);
    // Another org's instance: nothing, as for one that does not exist.
    expect(
      (
        await bus.request('connection.integrations.list', {
          orgId: randomUUID(),
          instanceId: mine.instance.id,
          viewer: { userId: viewer, othersLimit: 10 },
        })
      ).instances,
    ).toEqual([]);
    expect(
      await errorOf(
        bus.request('connection.integrations.list', { orgId, instanceId: 'not-a-uuid' }),
      ),
    ).toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('with only a pending connect left, the instance waits revoked-in-waiting; abandoning it restores revoked', async () => {
    const orgId = randomUUID();
    const live = await connected(orgId, { vendor: 'zendesk', level: 'user' });
    const pending = await bus.request('connection.connections.create', {
      orgId,
      vendor: 'zendesk',
      level: 'user',
      userId: randomUUID(),
      externalAccountId: null,
      // The instance's tenant: it is pinned to it.
      tenantId: 'acme',
    });
    const saga = randomUUID();
    await begin(orgId, live.connection.id, saga);
    const done = await complete(orgId, live.connection.id, saga);
    expect(done).toMatchObject({ instanceRevoked: true, healthChecksStopped: true });
    expect(await instanceState(live.instance.id)).toMatchObject({
      status: 'pending',
      previous_status: 'revoked',
      health: 'unknown',
      checks_enabled: false,
      webhook: 'disabled',
    });
    await bus.request('connection.connections.abandon', {
      orgId,
      connectionId: pending.connection.id,
      reason: 'closed',
    });
    expect((await instanceState(live.instance.id)).status).toBe('revoked');
  });
});
