import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
 * failed). What they share — saga leases, OAuth links — is judged in the database's time, so the skew changes
 * nothing: no replica takes a saga another one is driving, a dead replica's sagas are taken over when its lease
 * ends, and a link made by one replica opens on the other.
 */
describe('edge replicas with skewed clocks (services as processes)', () => {
  let h: THarness;
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
          : {},
    });
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

  it('an OAuth link made by one replica opens on the replica running an hour ahead, and the connect completes', async () => {
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
  });
});
