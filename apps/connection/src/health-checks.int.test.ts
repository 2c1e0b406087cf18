import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import { Bus, connectNats } from '@otesse/messaging';
import { createLogger } from '@otesse/logging';
import {
  startFakeProvider,
  writeFakeProvidersFile,
  type TFakeProvider,
} from '@otesse/fake-provider';
import {
  createTestDatabase,
  startNatsServer,
  startStack,
  waitFor,
  type TStack,
  type TTestDatabase,
  type TTestNats,
} from '@otesse/testing';
import type { TRunningService } from '@otesse/runtime';
import { startConnection } from './connection.service';

const logger = createLogger({
  name: 'connection-health-test',
  level: process.env['TEST_LOG_LEVEL'] ?? 'silent',
});
const INTERVAL_MS = 300;

/** Issue 4 "Health": periodic checks against the provider (the fake one over HTTP, tokens from the real vault). */
describe('health checks of the connection service (vault as a process, fake provider)', () => {
  let db: TTestDatabase;
  let nats: TTestNats;
  let fake: TFakeProvider;
  let dir: string;
  let stack: TStack;
  let nc: NatsConnection;
  let bus: Bus;
  let replicas: TRunningService[] = [];

  beforeAll(async () => {
    [db, nats, fake] = await Promise.all([
      createTestDatabase(),
      startNatsServer(),
      startFakeProvider({ port: 0 }),
    ]);
    dir = mkdtempSync(join(tmpdir(), 'otesse-health-'));
    const providersFile = writeFakeProvidersFile(fake.url, join(dir, 'providers.json'));
    stack = await startStack(
      { databaseUrlFor: (s) => db.urlFor(s), natsUrl: nats.url, providersFile },
      ['credential-vault'],
    );
    // Two replicas share the checks.
    for (let i = 0; i < 2; i++) {
      replicas.push(
        await startConnection({
          databaseUrl: db.urlFor('connection'),
          natsUrl: nats.url,
          providersFile,
          logger,
          healthChecks: { intervalMs: INTERVAL_MS, timeoutMs: 1_000 },
        }),
      );
    }
    nc = await connectNats({ url: nats.url, name: 'test' });
    bus = new Bus(nc);
  });
  afterAll(async () => {
    for (const r of replicas) await r.stop();
    replicas = [];
    await nc?.close();
    await stack?.stop();
    await fake?.close();
    await nats?.stop();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A connected connection whose tokens the fake provider issued and the vault holds. */
  const connect = async (orgId: string, vendor: 'google' | 'servicenow', userId = 'u-alice') => {
    if (vendor === 'servicenow') {
      await bus.request('connection.instances.configure', {
        orgId,
        vendor,
        config: { subdomain: 'acme' },
      });
    }
    const created = await bus.request('connection.connections.create', {
      orgId,
      vendor,
      level: 'app',
      userId: randomUUID(),
      externalAccountId: userId,
      tenantId: 'acme',
    });
    const { access, refresh } = fake.state.issueTokens({
      clientId: `otesse-dev-${vendor}`,
      user: fake.state.findUser(userId)!,
      instance: vendor === 'servicenow' ? 'acme' : undefined,
      scope: '',
      familyId: randomUUID(),
    });
    await bus.request('vault.credentials.store', {
      orgId,
      connectionId: created.connection.id,
      vendor,
      credentials: [
        {
          kind: 'access_token',
          value: access.token,
          expiresAt: new Date(access.expiresAt).toISOString(),
        },
        { kind: 'refresh_token', value: refresh.token },
      ],
    });
    const activated = await bus.request('connection.connections.activate', {
      orgId,
      connectionId: created.connection.id,
      eventId: randomUUID(),
    });
    return { ...activated, access, refresh };
  };
  const health = async (instanceId: string) => {
    const [row] = await db.query<{
      status: string;
      checked_at: Date | null;
      checks_enabled: boolean;
      detail: string | null;
    }>(
      'select status, checked_at, checks_enabled, detail from connection.integration_health where instance_id = $1',
      [instanceId],
    );
    return row!;
  };

  it('checks connected instances periodically (once per interval across replicas) and reflects the provider', async () => {
    const orgId = randomUUID();
    const google = await connect(orgId, 'google');
    const sn = await connect(orgId, 'servicenow');
    const connectedAt = Date.now();
    // Both probed through their data API (ServiceNow under its instance host) with a vault-issued token.
    for (const i of [google.instance.id, sn.instance.id]) {
      const h = await waitFor(async () => {
        const r = await health(i);
        return r.detail === 'ok' ? r : undefined;
      });
      expect(h.status).toBe('healthy');
      expect(h.checked_at!.getTime()).toBeGreaterThanOrEqual(connectedAt - 50);
    }
    const got = await bus.request('connection.instances.get', { orgId, vendor: 'google' });
    expect(got.instance).toMatchObject({ health: 'healthy', healthChecksEnabled: true });

    // Over ~6 intervals, two replicas check two instances about 2 × 6 times, not twice as often.
    const before = fake.state.dataCallCounts.health;
    await new Promise((r) => setTimeout(r, INTERVAL_MS * 6));
    const calls = fake.state.dataCallCounts.health - before;
    expect(calls).toBeGreaterThanOrEqual(4);
    expect(calls).toBeLessThanOrEqual(2 * 8);

    // The provider refuses the access token before its recorded expiry (revoked there): the check has the vault
    // renew it, once, and the instance stays healthy with the new token.
    fake.state.revoke(fake.state.tokens.get(google.access.token)!, 'revoke_endpoint');
    const refreshes = () =>
      fake.state.tokenCalls.filter(
        (t) => t.grantType === 'refresh_token' && t.refreshToken === google.refresh.token,
      );
    await waitFor(async () => refreshes().length > 0);
    const after = Date.now();
    const renewed = await waitFor(async () => {
      const r = await health(google.instance.id);
      return r.checked_at!.getTime() > after ? r : undefined;
    });
    expect(renewed).toMatchObject({ status: 'healthy', detail: 'ok' });
    expect(refreshes()).toMatchObject([{ status: 200 }]);
    const { accessToken } = await bus.request('vault.access-tokens.get', {
      orgId,
      connectionId: google.connection.id,
    });
    expect(accessToken).not.toBe(google.access.token);
    const listed = await bus.request('connection.integrations.list', { orgId });
    expect(listed.instances.find((i) => i.instance.vendor === 'google')?.instance.health).toBe(
      'healthy',
    );
    // The other instance is unaffected.
    expect((await health(sn.instance.id)).status).toBe('healthy');
  });

  it('a provider that refuses every token, renewed or not: unhealthy (token_refused), one renewal, then no more calls while the vault backs off', async () => {
    const orgId = randomUUID();
    const { connection, instance, refresh } = await connect(orgId, 'google', 'u-bob');
    await waitFor(async () => (await health(instance.id)).detail === 'ok');
    // Only this instance is checked from here on (the provider's refusal is for every token).
    await db.query(
      'update connection.integration_health set checks_enabled = false where instance_id <> $1',
      [instance.id],
    );
    await new Promise((r) => setTimeout(r, INTERVAL_MS));
    const probes = fake.state.dataCallCounts.health;
    const tokenCalls = fake.state.tokenCalls.length;
    fake.state.applyConfig({ dataApiMode: 'unauthorized' });
    try {
      const bad = await waitFor(async () => {
        const r = await health(instance.id);
        return r.status === 'unhealthy' ? r : undefined;
      });
      expect(bad.detail).toBe('token_refused');
      // Each check: the token, its renewal, the renewed token — never more than one refresh per check.
      const refreshes = fake.state.tokenCalls
        .slice(tokenCalls)
        .filter((t) => t.grantType === 'refresh_token');
      const checks = (fake.state.dataCallCounts.health - probes) / 2;
      expect(refreshes.length).toBeGreaterThanOrEqual(1);
      expect(refreshes.length).toBeLessThanOrEqual(Math.ceil(checks));
      expect(refreshes[0]).toMatchObject({ refreshToken: refresh.token, status: 200 });
      // Later checks: the renewed token was refused too, so the vault renews it again only after its back-off (a
      // minute here) and hands it to nobody meanwhile — the checks go on, still token_refused, without calling the
      // provider at all, neither its API nor its token endpoint.
      await waitFor(async () => {
        const [row] = await db.query<{ refused_at: Date | null }>(
          `select refused_at from vault.credential where connection_id = $1 and kind = 'access_token'`,
          [connection.id],
        );
        return row?.refused_at ?? undefined;
      });
      const quietFrom = fake.state.dataCallCounts.health;
      const seen = (await health(instance.id)).checked_at!.getTime();
      await new Promise((r) => setTimeout(r, INTERVAL_MS * 4));
      const later = await health(instance.id);
      expect(later.checked_at!.getTime()).toBeGreaterThan(seen);
      expect(later).toMatchObject({ status: 'unhealthy', detail: 'token_refused' });
      expect(fake.state.dataCallCounts.health).toBe(quietFrom);
      expect(
        fake.state.tokenCalls.slice(tokenCalls).filter((t) => t.grantType === 'refresh_token'),
      ).toHaveLength(1);
    } finally {
      fake.state.applyConfig({ dataApiMode: 'ok' });
    }
  });

  it('an access token refused early whose refresh token is dead too: unhealthy, the connection flagged for reconnect', async () => {
    const orgId = randomUUID();
    const { connection, instance } = await connect(orgId, 'servicenow', 'u-carol');
    await waitFor(async () => (await health(instance.id)).detail === 'ok');
    // Nothing changes in the vault: its access token still looks valid for an hour.
    fake.state.expireTokens('access', { userId: 'u-carol', instance: 'acme' });
    fake.state.expireTokens('refresh', { userId: 'u-carol', instance: 'acme' });
    const h = await waitFor(async () => {
      const r = await health(instance.id);
      return r.status === 'unhealthy' ? r : undefined;
    });
    expect(h.detail).toBe('refresh_token_expired');
    const got = await bus.request('connection.connections.get', {
      orgId,
      connectionId: connection.id,
    });
    // The flag behind the dashboard's Reconnect warning (seed 003).
    expect(got.connection.refreshTokenExpired).toBe(true);
  });

  it('stops checking an instance once its last connection is disconnected (health unknown)', async () => {
    const orgId = randomUUID();
    const { connection, instance } = await connect(orgId, 'google', 'u-bob');
    await waitFor(async () => (await health(instance.id)).detail === 'ok');
    // Only this instance is checked from here on, so the provider's health-call counter is its own.
    await db.query(
      'update connection.integration_health set checks_enabled = false where instance_id <> $1',
      [instance.id],
    );
    const saga = randomUUID();
    const keys = (step: string) => ({
      orgId,
      connectionId: connection.id,
      sagaId: saga,
      idempotencyKey: `${saga}:${step}`,
    });
    await bus.request('connection.connections.begin-disconnect', keys('lock'));
    const done = await bus.request('connection.connections.complete-disconnect', keys('statuses'));
    expect(done).toMatchObject({ instanceRevoked: true, healthChecksStopped: true });

    // Let a check in flight finish; from then on the provider sees no health call at all.
    await new Promise((r) => setTimeout(r, INTERVAL_MS * 2));
    const after = await health(instance.id);
    expect(after).toMatchObject({ status: 'unknown', checks_enabled: false, checked_at: null });
    const probes = fake.state.dataCallCounts.health;
    await new Promise((r) => setTimeout(r, INTERVAL_MS * 4));
    expect(fake.state.dataCallCounts.health).toBe(probes);
    expect(await health(instance.id)).toMatchObject({ status: 'unknown', checks_enabled: false });
    const got = await bus.request('connection.instances.get', { orgId, vendor: 'google' });
    expect(got.instance).toMatchObject({
      status: 'revoked',
      health: 'unknown',
      healthCheckedAt: null,
      healthChecksEnabled: false,
    });
  });

  it('marks an instance unhealthy when the vault cannot give a token (refresh token expired)', async () => {
    const orgId = randomUUID();
    const { connection, instance } = await connect(orgId, 'google', 'u-carol');
    await waitFor(async () => (await health(instance.id)).detail === 'ok');
    fake.state.expireTokens('refresh', { userId: 'u-carol' });
    await db.query(
      `update vault.credential set expires_at = now() - interval '1 minute' where connection_id = $1 and kind = 'access_token'`,
      [connection.id],
    );
    const h = await waitFor(async () => {
      const r = await health(instance.id);
      return r.status === 'unhealthy' ? r : undefined;
    });
    expect(h.detail).toBe('refresh_token_expired');
    const got = await bus.request('connection.connections.get', {
      orgId,
      connectionId: connection.id,
    });
    expect(got.connection.refreshTokenExpired).toBe(true);
  });
  it('shows a flagged connection as degraded (refresh_token_expired) while its access token works; healthy after a reconnect', async () => {
    const orgId = randomUUID();
    const { connection, instance } = await connect(orgId, 'servicenow', 'u-bob');
    await waitFor(async () => (await health(instance.id)).detail === 'ok');
    await bus.request('connection.connections.mark-refresh-expired', {
      orgId,
      connectionId: connection.id,
      eventId: randomUUID(),
    });
    await waitFor(async () => {
      const r = await health(instance.id);
      return r.status === 'degraded' && r.detail === 'refresh_token_expired';
    });
    const got = await bus.request('connection.instances.get', { orgId, vendor: 'servicenow' });
    expect(got.instance?.health).toBe('degraded');

    // Reconnect (what the edge's saga does): lock, swap the credentials, complete.
    const sagaId = randomUUID();
    await bus.request('connection.connections.lock', {
      orgId,
      connectionId: connection.id,
      sagaId,
      purpose: 'reconnect',
      idempotencyKey: `${sagaId}:lock`,
    });
    const fresh = fake.state.issueTokens({
      clientId: 'otesse-dev-servicenow',
      user: fake.state.findUser('u-bob')!,
      instance: 'acme',
      scope: '',
      familyId: randomUUID(),
    });
    // The new tokens as the callback hands them to the vault (staged), swapped in by `stageId`.
    const { stageId } = await bus.request('vault.tokens.stage', {
      orgId,
      vendor: 'servicenow',
      subdomain: 'acme',
      credentials: [
        {
          kind: 'access_token',
          value: fresh.access.token,
          expiresAt: new Date(fresh.access.expiresAt).toISOString(),
        },
        { kind: 'refresh_token', value: fresh.refresh.token },
      ],
      idempotencyKey: `stage:${sagaId}`,
    });
    await bus.request('vault.credentials.swap', {
      orgId,
      connectionId: connection.id,
      vendor: 'servicenow',
      stageId,
      idempotencyKey: `${sagaId}:swap`,
    });
    await bus.request('connection.connections.complete-reconnect', {
      orgId,
      connectionId: connection.id,
      sagaId,
      action: 'reconnect',
      externalAccountId: 'u-bob',
      tenantId: 'acme',
      eventId: randomUUID(),
      actorUserId: randomUUID(),
      idempotencyKey: `${sagaId}:complete`,
    });
    await waitFor(async () => (await health(instance.id)).detail === 'ok');
    expect(await health(instance.id)).toMatchObject({ status: 'healthy', checks_enabled: true });
    await expect(
      bus.request('vault.access-tokens.get', { orgId, connectionId: connection.id }),
    ).resolves.toMatchObject({ accessToken: fresh.access.token });
  });
});
