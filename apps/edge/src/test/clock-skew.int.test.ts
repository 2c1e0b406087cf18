import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bus } from '@otesse/messaging';
import { builtinWebhookSignature, signWebhook } from '@otesse/providers';
import { skewedClockEnv, TestBrowser, waitFor } from '@otesse/testing';
import {
  connectOAuth,
  DASHBOARD_URL,
  edgeClient,
  startHarness,
  type THarness,
} from './e2e-harness';
import { expectDisconnectedOnce, sagaStepOf, untilSagaStatus } from './disconnect-helpers';

const HOUR = 3_600_000;

/**
 * Two edge replicas whose clocks disagree by an hour (the second one's runs ahead, as on a machine whose time sync
 * failed), and a vault whose clock runs an hour behind. What processes share — saga leases, OAuth links, token
 * expiry — is judged in the database's time, so the skew changes nothing: no replica takes a saga another one is
 * driving, a dead replica's sagas are taken over when its lease ends, a link made by one replica opens on the
 * other, and a token expires when the provider said it would, whoever stored it and whoever hands it out.
 */
describe('edge replicas with skewed clocks (services as processes)', () => {
  let h: THarness;
  let bus: Bus;
  beforeAll(async () => {
    h = await startHarness({
      replicas: { edge: 2 },
      envFor: (s, replica) =>
        s === 'edge'
          ? {
              SAGA_LEASE_MS: '1500',
              SAGA_RECOVERY_INTERVAL_MS: '250',
              ...(replica === 1 ? skewedClockEnv(HOUR) : {}),
            }
          : s === 'credential-vault'
            ? skewedClockEnv(-HOUR)
            : {},
    });
    bus = new Bus(h.nc, { timeoutMs: 10_000 });
  });
  afterAll(async () => {
    await h?.close();
  });

  const ahead = () => edgeClient(h.stack.edgeUrls[1]!, h.admin.token);
  const ownersOf = async (sagaId: string) =>
    (
      await h.db.query<{ owner: string | null }>(`select owner from edge.saga where id = $1`, [
        sagaId,
      ])
    )[0]?.owner;

  it('the replica running an hour ahead leaves a saga the other one drives alone', async () => {
    const { connectionId } = await connectOAuth(h, h.admin, 'salesforce', 'app');
    // The revocation takes 3 s: two lease periods, renewed by the driver meanwhile.
    await h.fakeClient.configure({ revokeDelayMs: 3_000 });
    try {
      const { sagaId } = await h.admin.client.disconnect.start.mutate({
        connectionId: connectionId!,
        confirm: true,
        waitMs: 0,
      });
      const owners = new Set<string | null>();
      await waitFor(
        async () => {
          owners.add((await ownersOf(sagaId)) ?? null);
          return (await sagaStepOf(h, sagaId, 'revoke-tokens'))?.status === 'succeeded';
        },
        { timeoutMs: 20_000, intervalMs: 50 },
      );
      await untilSagaStatus(h, sagaId, 'completed');
      owners.add((await ownersOf(sagaId)) ?? null);
      // One driver from start to end: the replica ahead never judged its lease run out.
      expect(owners.size).toBe(1);
      const step = await sagaStepOf(h, sagaId, 'revoke-tokens');
      expect(step?.attempts).toBe(1);
    } finally {
      await h.fakeClient.configure({ revokeDelayMs: 0 });
    }
    await expectDisconnectedOnce(h, connectionId!);
  });

  it('the replica running an hour ahead dies mid-saga: the other one finishes the saga once its lease ends, not an hour later', async () => {
    const { connectionId } = await connectOAuth(h, h.admin, 'xero', 'app');
    await h.fakeClient.configure({ revokeDelayMs: 2_000 });
    let sagaId: string;
    try {
      ({ sagaId } = await ahead().disconnect.start.mutate({
        connectionId: connectionId!,
        confirm: true,
        waitMs: 0,
      }));
      await waitFor(
        async () => (await sagaStepOf(h, sagaId, 'revoke-tokens'))?.status === 'running',
      );
      const driver = await ownersOf(sagaId);
      await h.stack.kill('edge', 'SIGKILL', 1);
      // Lease 1.5 s, recovery every 250 ms: well within the bound, were its lease in its own (skewed) time it
      // would be an hour.
      const done = await untilSagaStatus(h, sagaId, 'completed');
      expect(done.result).toMatchObject({ credentialsDeleted: 2 });
      expect(await ownersOf(sagaId)).not.toBe(driver);
    } finally {
      await h.fakeClient.configure({ revokeDelayMs: 0 });
      await h.stack.start('edge', 1);
    }
    await expectDisconnectedOnce(h, connectionId!);
  });

  it('an OAuth link made by one replica opens on the replica running an hour ahead; the tokens it stores expire when the provider says, and the vault an hour behind refreshes them when they are due', async () => {
    const { url } = await h.member.client.integrations.oauthUrl.query({
      vendor: 'google',
      flow: 'user',
    });
    // The browser's next request lands on the other replica (a load balancer's choice).
    const other = new URL(url);
    const target = new URL(h.stack.edgeUrls[1]!);
    other.host = target.host;
    const { stoppedAt } = await new TestBrowser().follow(other.toString(), {
      stopAt: DASHBOARD_URL,
    });
    expect(new URL(stoppedAt ?? 'http://x/').searchParams.get('oauth')).toBe('connected');
    const google = (await h.member.client.integrations.list.query()).find(
      (i) => i.provider.key === 'google',
    );
    expect(google?.myConnection?.status).toBe('connected');
    const connectionId = google!.myConnection!.id;

    // The provider said 3600 s: the access token expires an hour from now by the database's clock, not two hours
    // from now as the edge that received it would have dated it.
    /** The active access token expires within the hour the provider gave, by the database's clock. */
    const expectAnHourLeft = async () => {
      const [row] = await h.db.query<{ left_sec: number }>(
        `select extract(epoch from expires_at - now())::float8 as left_sec
           from vault.credential where connection_id = $1 and kind = 'access_token' and is_active`,
        [connectionId],
      );
      expect(row!.left_sec).toBeGreaterThan(3_500);
      expect(row!.left_sec).toBeLessThanOrEqual(3_600);
    };
    await expectAnHourLeft();

    // Not due: handed out as it is. Due by the database's clock (a minute past): refreshed at the provider, although
    // the vault's own clock, an hour behind, would still call it good for 59 minutes.
    const req = { orgId: h.orgId, connectionId };
    const refreshes = async () =>
      (await h.fakeClient.getState()).tokenCalls.filter((c) => c.grantType === 'refresh_token')
        .length;
    const before = await refreshes();
    const first = await bus.request('vault.access-tokens.get', req);
    expect(await refreshes()).toBe(before);
    await h.db.query(
      `update vault.credential set expires_at = now() - interval '1 minute'
        where connection_id = $1 and kind = 'access_token' and is_active`,
      [connectionId],
    );
    const second = await bus.request('vault.access-tokens.get', req);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(await refreshes()).toBe(before + 1);
    expect((await h.fakeClient.tokenStatus(second.accessToken)).status).toBe('active');
    // Dated by the database again: an hour from the refresh.
    await expectAnHourLeft();
  });

  it("the vault an hour behind dates a replaced token's discard by the database, and finishes it at once", async () => {
    const { connectionId } = await connectOAuth(h, h.member, 'slack', 'user');
    const replaced = (
      await h.db.query<{ id: string }>(
        `select id from vault.credential where connection_id = $1 and is_active`,
        [connectionId],
      )
    ).map((r) => r.id);
    expect(replaced).toHaveLength(2);
    await bus.request('vault.credentials.store', {
      orgId: h.orgId,
      connectionId: connectionId!,
      vendor: 'slack',
      credentials: [
        { kind: 'access_token', value: 'xoxp-replacement-0123456789', expiresInSec: 3_600 },
      ],
      replace: true,
    });
    // Asked for just now by the database's clock (not an hour ago, as the vault's own clock would date it: any
    // replica's sweep would take it as long overdue), and already revoked and destroyed.
    const rows = await h.db.query<{ ago_sec: number; is_deleted: boolean }>(
      `select extract(epoch from now() - discard_requested_at)::float8 as ago_sec, is_deleted
         from vault.credential where id = any($1::uuid[])`,
      [replaced],
    );
    expect(rows).toHaveLength(2);
    for (const r of rows) {
      expect(r.ago_sec).toBeGreaterThanOrEqual(0);
      expect(r.ago_sec).toBeLessThan(60);
      expect(r.is_deleted).toBe(true);
    }
  });

  it('the vault an hour behind keeps a replaced webhook secret for the grace the admin chose, by the database clock', async () => {
    const { outcome } = await connectOAuth(h, h.admin, 'slack', 'app');
    expect(outcome).toBe('connected');
    await h.admin.client.integrations.setWebhookSecret.mutate({
      vendor: 'slack',
      secret: 'first-signing-secret-0123456789ab',
    });
    const before = Date.now();
    const set = await h.admin.client.integrations.setWebhookSecret.mutate({
      vendor: 'slack',
      secret: 'second-signing-secret-0123456789a',
      keepPreviousHours: 1,
    });
    // An hour from now (the test's clock is the database's), not from the vault's own clock, which would make it
    // now: the previous secret refused at once by every replica that keeps good time.
    const until = Date.parse(set.previousSecret!.validUntil);
    expect(until - before).toBeGreaterThan(0.99 * HOUR);
    expect(until - before).toBeLessThan(1.01 * HOUR);
    const view = await h.admin.client.integrations.webhookEndpoint.query({ vendor: 'slack' });
    expect(view.previousSecret?.validUntil).toBe(set.previousSecret!.validUntil);

    // The provider still signs with the first secret: the slow vault records that use now, not an hour ago.
    const instanceId = (await h.admin.client.integrations.list.query()).find(
      (i) => i.provider.key === 'slack',
    )!.instance!.id;
    const body = 'token=x&team_id=T1&event=message';
    const timestamp = String(Math.floor(Date.now() / 1000));
    const verified = await bus.request('vault.webhook-signatures.verify', {
      orgId: h.orgId,
      instanceId,
      vendor: 'slack',
      bodyBase64: Buffer.from(body).toString('base64'),
      signature: signWebhook(
        builtinWebhookSignature('slack'),
        'first-signing-secret-0123456789ab',
        body,
        timestamp,
      ),
      timestamp,
    });
    expect(verified).toEqual({ outcome: 'valid', secret: 'previous' });
    const used = await h.admin.client.integrations.webhookEndpoint.query({ vendor: 'slack' });
    expect(Math.abs(Date.now() - Date.parse(used.previousSecret!.lastUsedAt!))).toBeLessThan(
      60_000,
    );
  });
});
