import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TRequestInput } from '@otesse/contracts';
import type { Bus } from '@otesse/messaging';
import { errorOf, type TTestDatabase } from '@otesse/testing';
import {
  connectedConnection,
  startConnectionTestBed,
  type TConnectionTestBed,
} from './test/connection-test-bed';

/** The unlink saga's commands to the connection service: hold-for-unlink, cancel-unlink, unpin-tenant. */
describe('unlink-tenant commands of the connection service (real Postgres + NATS)', () => {
  let bed: TConnectionTestBed;
  let db: TTestDatabase;
  let bus: Bus;

  beforeAll(async () => {
    bed = await startConnectionTestBed('connection-unlink-test', {
      healthChecks: { enabled: false },
    });
    ({ db, bus } = bed);
  });
  afterAll(async () => {
    await bed?.close();
  });

  const SITE = 'site-acme';

  /** A connected Confluence connection on `SITE` (create + activate), as the connect flow leaves it. */
  const connected = (
    orgId: string,
    over: Partial<TRequestInput<'connection.connections.create'>> = {},
  ) =>
    connectedConnection(bus, {
      orgId,
      vendor: 'confluence',
      level: 'app',
      userId: randomUUID(),
      externalAccountId: 'acct',
      tenantId: SITE,
      ...over,
    });
  const create = (orgId: string, tenantId: string = SITE) =>
    bus.request('connection.connections.create', {
      orgId,
      vendor: 'confluence',
      level: 'app',
      userId: randomUUID(),
      externalAccountId: 'acct',
      tenantId,
    });
  const configure = (orgId: string, config: { subdomain?: string; site?: string }) =>
    bus.request('connection.instances.configure', { orgId, vendor: 'confluence', config });
  /** Disconnects a connection as the disconnect saga does (lock, then statuses). */
  const disconnect = async (orgId: string, connectionId: string) => {
    const saga = randomUUID();
    const cmd = { orgId, connectionId, sagaId: saga };
    await bus.request('connection.connections.begin-disconnect', {
      ...cmd,
      idempotencyKey: `${saga}:lock`,
    });
    await bus.request('connection.connections.complete-disconnect', {
      ...cmd,
      idempotencyKey: `${saga}:statuses`,
    });
  };
  /** A pinned instance with no live connection: connected on `SITE`, then disconnected. */
  const unlinkable = async (orgId: string) => {
    const c = await connected(orgId);
    await disconnect(orgId, c.connection.id);
    return c;
  };

  const hold = (
    orgId: string,
    instanceId: string,
    sagaId: string,
    expectedTenantId: string = SITE,
    key = 'hold',
  ) =>
    bus.request('connection.instances.hold-for-unlink', {
      orgId,
      instanceId,
      sagaId,
      idempotencyKey: `${sagaId}:${key}`,
      expectedTenantId,
    });
  const cancelUnlink = (
    orgId: string,
    instanceId: string,
    sagaId: string,
    key = 'hold:compensate',
  ) =>
    bus.request('connection.instances.cancel-unlink', {
      orgId,
      instanceId,
      sagaId,
      idempotencyKey: `${sagaId}:${key}`,
    });
  const unpin = (orgId: string, instanceId: string, sagaId: string, key = 'unpin-tenant') =>
    bus.request('connection.instances.unpin-tenant', {
      orgId,
      instanceId,
      sagaId,
      idempotencyKey: `${sagaId}:${key}`,
    });
  const instanceRow = async (instanceId: string) =>
    (
      await db.query<{
        tenant_id: string | null;
        config: Record<string, string>;
        unlink_saga_id: string | null;
        tenant_unlinked_at: Date | null;
        updated_at: Date;
      }>(
        `select tenant_id, config, unlink_saga_id, tenant_unlinked_at, updated_at
           from connection.integration_instance where id = $1`,
        [instanceId],
      )
    )[0]!;
  const stored = async (key: string) =>
    (await db.query('select 1 from connection.processed_command where key = $1', [key])).length;
  const connectionCount = async (orgId: string) =>
    (
      await db.query<{ n: number }>(
        'select count(*)::int as n from connection.integration_connection where org_id = $1',
        [orgId],
      )
    )[0]!.n;
  /** The connections `instances.get withTenant` answers (the edge's choice of the Atlassian site). */
  const withTenant = async (orgId: string) =>
    (
      await bus.request('connection.instances.get', {
        orgId,
        vendor: 'confluence',
        withTenant: true,
      })
    ).connections.map((c) => c.id);

  it('refuses a hold for each reason with nothing changed or stored; a refused key holds once the reason is gone', async () => {
    // Not pinned: an instance configured, never connected.
    const fresh = randomUUID();
    const configured = await configure(fresh, { site: SITE });
    const freshSaga = randomUUID();
    expect(await errorOf(hold(fresh, configured.instance.id, freshSaga))).toMatchObject({
      code: 'PRECONDITION_FAILED',
      reason: 'not_pinned',
    });
    expect(await stored(`${freshSaga}:hold`)).toBe(0);

    const orgId = randomUUID();
    const { connection, instance } = await connected(orgId);
    const before = await instanceRow(instance.id);
    const saga = randomUUID();
    // Another org's instance, and none, alike.
    for (const [org, id] of [
      [randomUUID(), instance.id],
      [orgId, randomUUID()],
    ] as const) {
      expect(await errorOf(hold(org, id, saga))).toMatchObject({ code: 'NOT_FOUND' });
    }
    // A stale dialog: the pin is not the confirmed one.
    expect(await errorOf(hold(orgId, instance.id, saga, 'site-globex'))).toMatchObject({
      code: 'PRECONDITION_FAILED',
      reason: 'tenant_changed',
    });
    // A connected connection: disconnect it first.
    expect(await errorOf(hold(orgId, instance.id, saga))).toMatchObject({
      code: 'CONFLICT',
      reason: 'instance_in_use',
      details: { live: 1 },
    });
    // Its disconnect holding the instance.
    const disconnecting = randomUUID();
    await bus.request('connection.connections.begin-disconnect', {
      orgId,
      connectionId: connection.id,
      sagaId: disconnecting,
      idempotencyKey: `${disconnecting}:lock`,
    });
    expect(await errorOf(hold(orgId, instance.id, saga))).toMatchObject({
      code: 'CONFLICT',
      reason: 'disconnect_in_progress',
    });
    expect(await instanceRow(instance.id)).toEqual(before);
    expect(await stored(`${saga}:hold`)).toBe(0);
    await bus.request('connection.connections.complete-disconnect', {
      orgId,
      connectionId: connection.id,
      sagaId: disconnecting,
      idempotencyKey: `${disconnecting}:statuses`,
    });

    // The same key asked again now holds: the refusals stored nothing.
    const held = await hold(orgId, instance.id, saga);
    expect(held).toMatchObject({
      instance: { id: instance.id, tenantId: SITE, unlinkInProgress: true, tenantUnlinkedAt: null },
      endedConnections: 1,
    });
    expect((await instanceRow(instance.id)).unlink_saga_id).toBe(saga);
    // Another unlink saga is refused.
    expect(await errorOf(hold(orgId, instance.id, randomUUID()))).toMatchObject({
      code: 'CONFLICT',
      reason: 'unlink_in_progress',
    });
  });

  it('a hold refuses connects and configuration; cancel-unlink lifts it; a hold after its cancel holds nothing', async () => {
    const orgId = randomUUID();
    const { connection, instance } = await unlinkable(orgId);
    const saga = randomUUID();
    const held = await hold(orgId, instance.id, saga);
    expect(held.instance.unlinkInProgress).toBe(true);
    // A replay answers the first reply; the same saga under another key answers its hold.
    expect(await hold(orgId, instance.id, saga)).toEqual(held);
    expect(await hold(orgId, instance.id, saga, SITE, 'hold-2')).toEqual(held);
    // Both instance mappers (TypeScript, SQL instance_json) show the hold.
    expect(
      (await bus.request('connection.instances.get', { orgId, vendor: 'confluence' })).instance,
    ).toEqual(held.instance);
    expect(
      (await bus.request('connection.connections.get', { orgId, connectionId: connection.id }))
        .instance,
    ).toEqual(held.instance);

    const connections = await connectionCount(orgId);
    expect(await errorOf(create(orgId))).toMatchObject({
      code: 'CONFLICT',
      reason: 'unlink_in_progress',
      message: expect.stringMatching(/being unlinked/),
    });
    expect(await errorOf(configure(orgId, { site: SITE }))).toMatchObject({
      code: 'CONFLICT',
      reason: 'unlink_in_progress',
    });
    expect(await connectionCount(orgId)).toBe(connections);

    // Another org's compensation: NOT_FOUND, nothing lifted.
    expect(await errorOf(cancelUnlink(randomUUID(), instance.id, saga))).toMatchObject({
      code: 'NOT_FOUND',
    });
    // Another saga's compensation lifts nothing.
    expect(await cancelUnlink(orgId, instance.id, randomUUID())).toEqual({ released: false });
    expect((await instanceRow(instance.id)).unlink_saga_id).toBe(saga);
    expect(await cancelUnlink(orgId, instance.id, saga)).toEqual({ released: true });
    expect(await cancelUnlink(orgId, instance.id, saga)).toEqual({ released: true });
    expect(await cancelUnlink(orgId, instance.id, saga, 'again')).toEqual({ released: false });
    expect(await instanceRow(instance.id)).toMatchObject({ tenant_id: SITE, unlink_saga_id: null });

    // A saga whose hold never arrived compensates; the hold that arrives late replays a hold of nothing.
    const late = randomUUID();
    expect(await cancelUnlink(orgId, instance.id, late)).toEqual({ released: false });
    const lateHold = await hold(orgId, instance.id, late);
    expect(lateHold).toMatchObject({
      instance: { id: instance.id, unlinkInProgress: false },
      endedConnections: 0,
    });
    expect(await hold(orgId, instance.id, late)).toEqual(lateHold);
    expect((await instanceRow(instance.id)).unlink_saga_id).toBeNull();

    // Connects and configuration go on.
    await expect(configure(orgId, { site: SITE })).resolves.toMatchObject({
      instance: { config: { site: SITE } },
    });
    await expect(create(orgId)).resolves.toMatchObject({ connection: { status: 'pending' } });
  });

  it('a hold refuses the disconnect of an `error` connection of the instance (it would make it live); lifted, it goes on', async () => {
    const orgId = randomUUID();
    const { instance } = await unlinkable(orgId);
    // A connect that failed: its connection ended `error`, the instance back to revoked.
    const failed = await create(orgId);
    await bus.request('connection.connections.abandon', {
      orgId,
      connectionId: failed.connection.id,
      reason: 'connect_failed',
    });
    const saga = randomUUID();
    await hold(orgId, instance.id, saga);
    const disconnecting = randomUUID();
    const begin = () =>
      bus.request('connection.connections.begin-disconnect', {
        orgId,
        connectionId: failed.connection.id,
        sagaId: disconnecting,
        idempotencyKey: `${disconnecting}:lock`,
      });
    expect(await errorOf(begin())).toMatchObject({
      code: 'CONFLICT',
      reason: 'unlink_in_progress',
    });
    const [row] = await db.query<{ status: string }>(
      `select status from connection.integration_connection where id = $1`,
      [failed.connection.id],
    );
    expect(row?.status).toBe('error');
    await cancelUnlink(orgId, instance.id, saga);
    await expect(begin()).resolves.toMatchObject({ connection: { status: 'disconnecting' } });
  });

  it('unpin clears the pin and the site, lifts the hold; replays answer the same; another tenant connects and pins', async () => {
    const orgId = randomUUID();
    await configure(orgId, { subdomain: 'acme', site: SITE });
    const first = await unlinkable(orgId);
    const instanceId = first.instance.id;
    expect(await withTenant(orgId)).toEqual([first.connection.id]);

    const saga = randomUUID();
    // Not held: refused, nothing stored (the same key unpins once the saga holds the instance).
    expect(await errorOf(unpin(orgId, instanceId, saga))).toMatchObject({
      code: 'CONFLICT',
      reason: 'not_held',
    });
    expect(await stored(`${saga}:unpin-tenant`)).toBe(0);
    await hold(orgId, instanceId, saga);
    expect(await errorOf(unpin(randomUUID(), instanceId, saga))).toMatchObject({
      code: 'NOT_FOUND',
    });
    const before = await instanceRow(instanceId);

    const unpinned = await unpin(orgId, instanceId, saga);
    expect(unpinned).toEqual({
      instance: expect.objectContaining({
        id: instanceId,
        tenantId: null,
        config: { subdomain: 'acme' },
        unlinkInProgress: false,
        tenantUnlinkedAt: unpinned.unlinkedAt,
      }),
      previousTenantId: SITE,
      unlinkedAt: expect.any(String),
    });
    const row = await instanceRow(instanceId);
    expect(row).toMatchObject({
      tenant_id: null,
      config: { subdomain: 'acme' },
      unlink_saga_id: null,
    });
    expect(row.tenant_unlinked_at?.toISOString()).toBe(unpinned.unlinkedAt);
    expect(row.updated_at.getTime()).toBeGreaterThan(before.updated_at.getTime());
    // Replays answer the first reply; the same saga under another key is not holding any more.
    expect(await unpin(orgId, instanceId, saga)).toEqual(unpinned);
    expect(await errorOf(unpin(orgId, instanceId, saga, 'unpin-2'))).toMatchObject({
      code: 'CONFLICT',
      reason: 'not_held',
    });
    // A late compensation changes nothing.
    expect(await cancelUnlink(orgId, instanceId, saga)).toEqual({ released: false });
    expect(await instanceRow(instanceId)).toEqual(row);
    // Both mappers show the unlink.
    const viaTs = (await bus.request('connection.instances.get', { orgId, vendor: 'confluence' }))
      .instance;
    expect(viaTs).toEqual(unpinned.instance);
    expect(
      (
        await bus.request('connection.connections.get', {
          orgId,
          connectionId: first.connection.id,
        })
      ).instance,
    ).toEqual(viaTs);
    // Nothing left to unlink.
    expect(await errorOf(hold(orgId, instanceId, randomUUID()))).toMatchObject({
      code: 'PRECONDITION_FAILED',
      reason: 'not_pinned',
    });

    // The old site is no longer the instance's: withTenant leaves its connections out.
    expect(await withTenant(orgId)).toEqual([]);
    // Another tenant connects; its activation pins the instance to it.
    const next = await create(orgId, 'site-globex');
    expect(next.instance).toMatchObject({ id: instanceId, tenantId: null });
    const activated = await bus.request('connection.connections.activate', {
      orgId,
      connectionId: next.connection.id,
      eventId: randomUUID(),
    });
    expect(activated.instance).toMatchObject({
      status: 'connected',
      tenantId: 'site-globex',
      tenantUnlinkedAt: unpinned.unlinkedAt,
      unlinkInProgress: false,
    });
    expect(await withTenant(orgId)).toEqual([next.connection.id]);
    // The history is kept: the old connection is still listed without the filter.
    expect(
      (
        await bus.request('connection.instances.get', { orgId, vendor: 'confluence' })
      ).connections.map((c) => c.id),
    ).toEqual([first.connection.id, next.connection.id]);
    // The old tenant is now the one refused.
    expect(await errorOf(hold(orgId, instanceId, randomUUID()))).toMatchObject({
      code: 'PRECONDITION_FAILED',
      reason: 'tenant_changed',
    });
  });
});
