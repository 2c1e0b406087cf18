import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHAOS_DASHBOARD_URL, startChaosHarness, type TChaosHarness } from './chaos-harness';
import { checkInvariants } from './chaos-invariants';
import { NO_VIOLATIONS, runSmallChaos } from './chaos-test-setup';
import { edgeClient, type TEdgeClient } from './edge-client';
import { followOAuth } from './oauth-browser';

const SERVICES_WITH_ENDPOINTS = ['credential-vault', 'connection', 'sync-scheduler'] as const;

/**
 * Issue 8, Beyond one machine: two processes of every service (two edges on their own ports) against the same
 * Postgres and NATS. Requests spread over the replicas (NATS queue groups), each disconnect runs once whichever
 * edge it comes through, an OAuth flow may end on the other edge, and a chaos run still holds.
 */
describe('two replicas of every service', () => {
  let h: TChaosHarness;
  /** A client per edge replica, with no failover: each request goes to that edge. */
  const on = (edge: number, user: number): TEdgeClient =>
    edgeClient([h.stack.edgeUrls[edge]!], h.users[user]!.token);

  beforeAll(async () => {
    h = await startChaosHarness({
      replicas: 2,
      users: 4,
      sagaLeaseMs: 2_000,
      sharedPublicUrl: true,
    });
  }, 300_000);
  afterAll(async () => {
    await h?.close();
  });

  const connect = async (edge: number, user: number, vendor: string, callbackEdge = edge) => {
    const { url } = await on(edge, user).integrations.oauthUrl.query({ vendor, flow: 'user' });
    const { outcome } = await followOAuth(url, {
      dashboardUrl: CHAOS_DASHBOARD_URL,
      callbackOrigin: h.stack.edgeUrls[callbackEdge]!,
    });
    const mine = (await on(edge, user).integrations.list.query()).find(
      (i) => i.provider.key === vendor,
    )?.myConnection;
    return { outcome, connectionId: mine?.id };
  };

  it('runs two processes of every service, two edges on distinct ports', () => {
    const running = h.stack.running();
    for (const s of ['edge', 'credential-vault', 'connection', 'sync-scheduler', 'audit'] as const)
      expect(
        running
          .filter((p) => p.service === s)
          .map((p) => p.replica)
          .sort(),
      ).toEqual([0, 1]);
    expect(new Set(h.stack.edgeUrls).size).toBe(2);
  });

  it('disconnects through both edges hold: each saga once, one audit entry, one event', async () => {
    // An OAuth flow started on one edge finishes on the other (one public URL, a shared session secret, the
    // pending authorization and grant's session in Postgres).
    const crossed = await connect(0, 0, 'google', 1);
    expect(crossed.outcome).toBe('connected');
    const connections = [crossed.connectionId!];
    for (const [edge, user, vendor] of [
      [1, 1, 'google'],
      [0, 2, 'slack'],
      [1, 3, 'hubspot'],
    ] as const) {
      const c = await connect(edge, user, vendor);
      expect(c.outcome).toBe('connected');
      connections.push(c.connectionId!);
    }
    // The same disconnect asked through both edges at once: one saga, both callers get it.
    const results = await Promise.all(
      connections.flatMap((connectionId, user) =>
        [0, 1].map((edge) =>
          on(edge, user).disconnect.start.mutate({ connectionId, confirm: true, waitMs: 20_000 }),
        ),
      ),
    );
    for (let i = 0; i < connections.length; i += 1) {
      const [a, b] = [results[2 * i]!, results[2 * i + 1]!];
      expect(a.sagaId).toBe(b.sagaId);
      expect([a.saga.status, b.saga.status]).toEqual(['completed', 'completed']);
    }
    const sagas = await h.db.query<{ connection_id: string; n: string }>(
      `select input->>'connectionId' as connection_id, count(*) as n from edge.saga where type = 'disconnect'
        group by 1`,
    );
    expect(sagas.map((s) => [s.connection_id, s.n]).sort()).toEqual(
      connections.map((c) => [c, '1']).sort(),
    );
    // Audit entries are written by whichever audit replica pulls them: wait until both are drained.
    let report = await checkInvariants(h.db, h.nc);
    for (let i = 0; i < 60 && report.totalViolations > 0; i += 1) {
      await new Promise((r) => setTimeout(r, 500));
      report = await checkInvariants(h.db, h.nc);
    }
    expect(report.violations).toEqual(NO_VIOLATIONS);
    expect(report.counts).toMatchObject({ sagas: 4, completed: 4 });
  });

  it('spreads requests over both replicas of each service (NATS queue groups)', async () => {
    const client = h.nc.services.client();
    for (const name of SERVICES_WITH_ENDPOINTS) {
      const perInstance: number[] = [];
      for await (const s of await client.stats(name)) {
        perInstance.push((s.endpoints ?? []).reduce((sum, e) => sum + e.num_requests, 0));
      }
      expect(perInstance, name).toHaveLength(2);
      for (const served of perInstance) expect(served, name).toBeGreaterThan(0);
    }
  });

  it('a small chaos run (random replicas killed, NATS restarted) still holds', async () => {
    const r = await runSmallChaos({ harness: h, replicas: 2, natsRestartAfterKills: 2, seed: 22 });
    expect(r.faults.kills).toBeGreaterThanOrEqual(2);
    expect(r.faults.natsRestarts).toBe(1);
    expect(r.workload.disconnects).toBeGreaterThanOrEqual(4);
    expect(r.traffic.gaveUp).toBe(0);
    expect(r.report.counts.stuck).toBe(0);
    // Each invariant by name, so a failure says which.
    expect(r.report.violations).toEqual(NO_VIOLATIONS);
    expect(r.report.totalViolations).toBe(0);
  }, 300_000);
});
