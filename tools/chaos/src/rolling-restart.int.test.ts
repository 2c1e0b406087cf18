import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bus } from '@otesse/messaging';
import type { TStackService } from '@otesse/testing';
import { startChaosHarness, type TChaosHarness, type TChaosUser } from './chaos-harness';
import { checkInvariants } from './chaos-invariants';
import { edgeClient, isEdgeGone, newTraffic, trpcFailure, type TEdgeClient } from './edge-client';
import { seedConnection, type TSeededConnection } from './seed-connections';

const VENDORS = ['google', 'slack', 'salesforce', 'hubspot', 'quickbooks', 'xero'] as const;
/** Every service, one replica at a time; the edge last (its clients move to the other edge meanwhile). */
const ORDER: TStackService[] = [
  'credential-vault',
  'connection',
  'sync-scheduler',
  'audit',
  'edge',
];

/**
 * Issue 8, graceful shutdown: under continuous load through the edge (disconnects and reads, two replicas of
 * everything), every service is restarted one replica at a time with SIGTERM (SIGHUP for the services' second
 * replicas). Every replica stops cleanly (exit 0: subscriptions drained, in-flight work finished) and no request
 * is lost: each one succeeds, and only requests that met an edge replica going away were sent again (to the other
 * edge).
 */
describe('rolling restart under load', () => {
  let h: TChaosHarness;
  let bus: Bus;
  const members = (): TChaosUser[] => h.users.filter((u) => u.role === 'member');

  beforeAll(async () => {
    h = await startChaosHarness({ replicas: 2, users: 6, admins: 1, sagaLeaseMs: 3_000 });
    bus = new Bus(h.nc, { timeoutMs: 10_000 });
  }, 300_000);
  afterAll(async () => {
    await h?.close();
  });

  it('restarts every service replica by replica with SIGTERM and loses no request', async () => {
    const traffic = newTraffic();
    const failures: string[] = [];
    const fail = (what: string, e: unknown): void => {
      const t = trpcFailure(e);
      failures.push(
        `${what}: ${t ? `${t.code} ${t.reason ?? ''}` : isEdgeGone(e) ? 'edge unreachable' : (e as Error).message}`,
      );
    };
    const clientOf = (user: TChaosUser, i: number): TEdgeClient =>
      edgeClient(h.stack.edgeUrls, user.token, { preferred: i, traffic });

    // Connections to disconnect (a user-level slot per member and vendor) and, per member, one kept to read.
    const slots: TSeededConnection[] = [];
    const kept = new Map<string, string>();
    for (const u of members()) {
      for (const vendor of VENDORS) {
        const c = await seedConnection(bus, h.fake, { orgId: h.orgId, userId: u.id, vendor });
        if (vendor === 'xero') kept.set(u.id, c.connectionId);
        else slots.push(c);
      }
    }

    let stop = false;
    let reads = 0;
    let disconnects = 0;
    let reseeds = 0;
    // Readers: what the dashboard shows, touching every service (audit through the admin).
    const readers = h.users.map(async (user, i) => {
      const client = clientOf(user, i);
      for (let k = 0; !stop; k += 1) {
        try {
          if (user.role === 'admin') {
            await client.audit.list.query({ limit: 20 });
          } else if (k % 3 === 0) {
            await client.integrations.list.query();
          } else if (k % 3 === 1) {
            await client.disconnect.preview.query({ connectionId: kept.get(user.id)! });
          } else {
            await client.integrations.myConnections.query();
          }
          reads += 1;
        } catch (e) {
          fail('read', e);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    });
    // Disconnecters: disconnect a slot through the edge, then connect it again (over NATS) for a later round.
    const disconnecters = [0, 1].map(async (lane) => {
      while (!stop) {
        const slot = slots.shift();
        if (!slot) {
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        const user = members().find((u) => u.id === slot.userId)!;
        try {
          const r = await clientOf(user, lane).disconnect.start.mutate({
            connectionId: slot.connectionId,
            confirm: true,
            waitMs: 20_000,
          });
          let status = r.saga.status;
          for (let i = 0; i < 60 && status === 'running'; i += 1) {
            await new Promise((res) => setTimeout(res, 500));
            status = (await clientOf(user, lane).disconnect.status.query({ sagaId: r.sagaId }))
              .status;
          }
          if (status === 'completed') disconnects += 1;
          else failures.push(`disconnect ${slot.connectionId}: ${status}`);
        } catch (e) {
          fail('disconnect', e);
        }
        try {
          slots.push(
            await seedConnection(bus, h.fake, {
              orgId: h.orgId,
              userId: slot.userId,
              vendor: slot.vendor,
            }),
          );
          reseeds += 1;
        } catch (e) {
          fail('reseed over NATS', e);
        }
      }
    });

    const exitCodes: Record<string, number | null | undefined> = {};
    const stopLogs: string[] = [];
    let retriesBeforeEdge = -1;
    try {
      await new Promise((r) => setTimeout(r, 2_000));
      for (const service of ORDER) {
        if (service === 'edge') retriesBeforeEdge = traffic.retries;
        for (const replica of [0, 1]) {
          // The second replica of each service gets SIGHUP (its terminal closed, a process manager's hang-up):
          // the same graceful stop. The edge's SIGHUP reloads its certificate instead.
          const signal = replica === 1 && service !== 'edge' ? 'SIGHUP' : 'SIGTERM';
          const code = await h.stack.kill(service, signal, replica);
          exitCodes[`${service}#${replica}`] = code;
          // Why a stop was not clean, for the failure message (the process is gone after this).
          if (code !== 0)
            stopLogs.push(
              `${service}#${replica}:\n${h.stack.output(service, replica).slice(-4_000)}`,
            );
          await h.stack.start(service, replica);
          await new Promise((r) => setTimeout(r, 1_000));
        }
      }
    } finally {
      stop = true;
      await Promise.all([...readers, ...disconnecters]);
    }

    // Every replica stopped gracefully: SIGTERM → drained and finished → exit 0 (not the forced exit 1).
    expect(exitCodes, stopLogs.join('\n')).toEqual(
      Object.fromEntries(ORDER.flatMap((s) => [0, 1].map((r) => [`${s}#${r}`, 0]))),
    );
    // Each edge stopped once its requests in flight were done, its clients' keep-alive connections closed with
    // their last answer: none had to be cut at the end of the grace (before, every stop waited it out, 10 s).
    expect(h.stack.output('edge', 0) + h.stack.output('edge', 1)).not.toMatch(
      /shutdown grace over/,
    );
    // No request was lost, and while only services restarted none even needed a second try.
    expect(failures).toEqual([]);
    expect(retriesBeforeEdge).toBe(0);
    expect(traffic.gaveUp).toBe(0);
    expect(reads).toBeGreaterThan(50);
    expect(disconnects).toBeGreaterThan(5);
    expect(reseeds).toBeGreaterThan(5);
    // And every disconnect ran exactly once, all the way.
    let report = await checkInvariants(h.db, h.nc);
    for (let i = 0; i < 60 && report.totalViolations > 0; i += 1) {
      await new Promise((r) => setTimeout(r, 500));
      report = await checkInvariants(h.db, h.nc);
    }
    expect(report.totalViolations).toBe(0);
    expect(report.counts.compensated).toBe(0);
    expect(report.counts.completed).toBe(disconnects);
  }, 600_000);
});
