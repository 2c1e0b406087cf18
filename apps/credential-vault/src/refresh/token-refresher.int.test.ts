import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import type { TAuditEvent } from '@otesse/contracts';
import { Bus, connectNats } from '@otesse/messaging';
import { createLogger } from '@otesse/logging';
import { loadCatalogue } from '@otesse/providers';
import {
  startFakeProvider,
  writeFakeProvidersFile,
  type TFakeProvider,
} from '@otesse/fake-provider';
import {
  errorOf,
  createTestDatabase,
  refuseStreamPublishes,
  startNatsServer,
  streamMessagesAbout,
  startStack,
  waitFor,
  type TStack,
  type TTestDatabase,
  type TTestNats,
} from '@otesse/testing';
import type { TRunningService } from '@otesse/runtime';
import { startCredentialVault } from '../credential-vault.service';

type TStream = 'INTEGRATIONS' | 'AUDIT';

/**
 * A refresh token the provider declared dead while JetStream refuses publishes: the vault's marks all answer
 * UNAVAILABLE and it gives up, yet the `refresh_token_expired` event and its audit entry come once JetStream takes
 * them again — the connection service owes both from the flag's transaction — once each.
 */
describe('refresh_token_expired is never lost (vault in process, connection service as a process, fake provider)', () => {
  let db: TTestDatabase;
  let nats: TTestNats;
  let fake: TFakeProvider;
  let dir: string;
  let stack: TStack;
  let nc: NatsConnection;
  let bus: Bus;
  let vault: TRunningService;

  beforeAll(async () => {
    [db, nats, fake] = await Promise.all([
      createTestDatabase(),
      startNatsServer(),
      startFakeProvider({ port: 0 }),
    ]);
    dir = mkdtempSync(join(tmpdir(), 'otesse-refresh-expired-'));
    const providersFile = writeFakeProvidersFile(fake.url, join(dir, 'providers.json'));
    stack = await startStack(
      {
        databaseUrlFor: (s) => db.urlFor(s),
        natsUrl: nats.url,
        providersFile,
        // The sweep publishes what is owed every 200 ms; its copy of the audit entry is due after 300 ms.
        envFor: () => ({
          HEALTH_CHECKS_ENABLED: 'false',
          PENDING_CONNECT_SWEEP_MS: '200',
          REFRESH_EXPIRED_AUDIT_DELAY_MS: '300',
        }),
      },
      ['connection'],
    );
    vault = await startCredentialVault({
      databaseUrl: db.urlFor('credential-vault'),
      natsUrl: nats.url,
      masterKeys: [{ keyId: 'k1', key: randomBytes(32) }],
      catalogue: loadCatalogue({ providersFile, env: {} }),
      logger: createLogger({ name: 'vault-refresh-expired-test', level: 'silent' }),
      refresh: { attemptTimeoutMs: 400, budgetMs: 1_500, backoffMs: 50, maxAttempts: 3 },
    });
    nc = await connectNats({ url: nats.url, name: 'test' });
    bus = new Bus(nc, { timeoutMs: 15_000 });
  });
  afterAll(async () => {
    await vault?.stop();
    await nc?.close();
    await stack?.stop();
    await fake?.close();
    await nats?.stop();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    fake.state.reset();
  });

  /** A connected Confluence connection whose access token the vault believes expired; its user's tokens. */
  const connect = async (userId: string) => {
    const orgId = randomUUID();
    const { connection, instance } = await bus.request('connection.connections.create', {
      orgId,
      vendor: 'confluence',
      level: 'user',
      userId: randomUUID(),
      externalAccountId: userId,
      tenantId: 'acme',
    });
    const { access, refresh } = fake.state.issueTokens({
      clientId: 'otesse-dev-confluence',
      user: fake.state.findUser(userId)!,
      instance: undefined,
      scope: '',
      familyId: randomUUID(),
    });
    await bus.request('vault.credentials.store', {
      orgId,
      connectionId: connection.id,
      vendor: 'confluence',
      credentials: [
        {
          kind: 'access_token',
          value: access.token,
          expiresAt: new Date(Date.now() - 1_000).toISOString(),
        },
        { kind: 'refresh_token', value: refresh.token },
      ],
    });
    await bus.request('connection.connections.activate', {
      orgId,
      connectionId: connection.id,
      eventId: randomUUID(),
    });
    return {
      orgId,
      connectionId: connection.id,
      instanceId: instance.id,
      ownerId: connection.userId,
    };
  };

  const refusePublishes = (...streams: TStream[]) => refuseStreamPublishes(nc, ...streams);

  const messages = <T>(stream: TStream, subject: string, connectionId: string) =>
    streamMessagesAbout<T>(nc, stream, subject, connectionId);
  const settle = () => new Promise((r) => setTimeout(r, 1_000));
  const flagRow = async (connectionId: string) =>
    (
      await db.query<{ flag: boolean; event_id: string | null; at: Date | null }>(
        `select refresh_token_expired as flag, refresh_token_expired_event_id as event_id,
                refresh_token_expired_at as at
           from connection.integration_connection where id = $1`,
        [connectionId],
      )
    )[0]!;

  it('the vault gives up on its marks while JetStream refuses; the event and the audit entry come once it is back, once each', async () => {
    const c = await connect('u-bob');
    fake.state.expireTokens('refresh', { userId: 'u-bob' });
    const restore = await refusePublishes('INTEGRATIONS', 'AUDIT');
    try {
      await expect(
        errorOf(
          bus.request('vault.access-tokens.get', { orgId: c.orgId, connectionId: c.connectionId }),
        ),
      ).resolves.toMatchObject({ code: 'PRECONDITION_FAILED', reason: 'refresh_token_expired' });
      // The flag is committed (the dashboard offers Reconnect); nothing reached JetStream.
      expect((await flagRow(c.connectionId)).flag).toBe(true);
      await settle();
    } finally {
      await restore();
    }
    const row = await flagRow(c.connectionId);
    const expiredAt = new Date(row.at!).toISOString();
    const events = await waitFor(
      async () => {
        const found = await messages(
          'INTEGRATIONS',
          'integrations.connection.refresh_token_expired',
          c.connectionId,
        );
        return found.length > 0 ? found : undefined;
      },
      { timeoutMs: 10_000, what: 'the refresh_token_expired event' },
    );
    expect(events).toEqual([
      {
        msgId: row.event_id,
        org: c.orgId,
        body: {
          eventId: row.event_id,
          occurredAt: expiredAt,
          orgId: c.orgId,
          vendor: 'confluence',
          instanceId: c.instanceId,
          connectionId: c.connectionId,
          level: 'user',
          userId: c.ownerId,
        },
      },
    ]);
    const audits = await waitFor(
      async () => {
        const found = await messages<TAuditEvent>('AUDIT', 'audit.entries.append', c.connectionId);
        return found.length > 0 ? found : undefined;
      },
      { timeoutMs: 10_000, what: 'the refresh_token_expired audit entry' },
    );
    expect(audits).toHaveLength(1);
    expect(audits[0]).toMatchObject({
      msgId: row.event_id,
      org: c.orgId,
      body: {
        eventId: row.event_id,
        action: 'connection.refresh_token_expired',
        actorUserId: null,
        onBehalfOfUserId: c.ownerId,
        provider: 'confluence',
        outcome: 'failure',
        targets: { instanceId: c.instanceId, connectionId: c.connectionId },
        occurredAt: expiredAt,
      },
    });
    // The next request finds the flag set: refused the same, nothing published again.
    await expect(
      errorOf(
        bus.request('vault.access-tokens.get', { orgId: c.orgId, connectionId: c.connectionId }),
      ),
    ).resolves.toMatchObject({ reason: 'refresh_token_expired' });
    await settle();
    expect(
      await messages(
        'INTEGRATIONS',
        'integrations.connection.refresh_token_expired',
        c.connectionId,
      ),
    ).toHaveLength(1);
    expect(await messages('AUDIT', 'audit.entries.append', c.connectionId)).toHaveLength(1);
  });

  it("with JetStream up, the vault's entry (the provider's answer) is the one kept; the connection service's copy is dropped", async () => {
    const c = await connect('u-alice');
    fake.state.expireTokens('refresh', { userId: 'u-alice' });
    await expect(
      errorOf(
        bus.request('vault.access-tokens.get', { orgId: c.orgId, connectionId: c.connectionId }),
      ),
    ).resolves.toMatchObject({ reason: 'refresh_token_expired' });
    // Past the copy's 300 ms and a few sweeps: it was published, and JetStream dropped it (same msgID).
    await waitFor(
      async () =>
        (
          await db.query(
            `select 1 from connection.event_outbox where connection_id = $1 and published_at is null`,
            [c.connectionId],
          )
        ).length === 0,
      { timeoutMs: 10_000, what: 'the owed audit copy published' },
    );
    const audits = await messages<TAuditEvent>('AUDIT', 'audit.entries.append', c.connectionId);
    expect(audits).toHaveLength(1);
    expect(audits[0]).toMatchObject({
      org: c.orgId,
      body: { details: { signal: 'invalid_grant', httpStatus: 400, reconnectRequired: true } },
    });
  });
});
