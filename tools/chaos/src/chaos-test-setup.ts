import { runChaos, type TChaosOptions, type TChaosResult } from './chaos-runner';

/**
 * The small chaos run of the integration tests (chaos.int, replicas.int), in one place so both stay the same
 * size: 4 disconnects and reconnects by 4 clients, a fault every 1.5 s (a kill, down 0.3 s, or a service's path to
 * Postgres cut for as long; once, every service's path at once), a user change every second
 * cycle, 2 s saga leases. Each test gives what it varies (replicas, NATS restart point, seed, a shared harness).
 */
export function runSmallChaos(
  opts: Pick<TChaosOptions, 'replicas' | 'natsRestartAfterKills' | 'seed'> & Partial<TChaosOptions>,
): Promise<TChaosResult> {
  return runChaos({
    operations: 4,
    clients: 4,
    killEveryMs: 1_500,
    downMs: 300,
    // Every other fault: a service's path to Postgres is cut instead of a process killed.
    databaseCutEvery: 2,
    // Once, after two kills: Postgres out of reach for every service and the edge at once.
    databaseOutageAfterKills: 2,
    changeUserEvery: 2,
    settleMs: 60_000,
    maxRunMs: 240_000,
    sagaLeaseMs: 2_000,
    ...opts,
  });
}

/** Every invariant of chaos-invariants.ts, named, at zero: what the tests expect of `report.violations`. */
export const NO_VIOLATIONS: Record<string, number> = {
  'sagas not completed or compensated': 0,
  'credentials alive for a revoked connection': 0,
  'connects left pending': 0,
  'credentials alive for an abandoned connect': 0,
  'retired or discarded credentials never destroyed': 0,
  "callbacks' staged tokens nothing claims, never destroyed": 0,
  'sync jobs left disabled by a compensated saga': 0,
  'sagas without exactly one audit entry': 0,
  'sagas without exactly one event (none when compensated)': 0,
  'connections left disconnecting or locked': 0,
  'instances left held for a disconnect': 0,
  'instances left held for an unlink': 0,
  "open or stopped sagas' idempotency records released": 0,
  "ended sagas' idempotency records not released within 10 s": 0,
  "released sagas' idempotency records stored again": 0,
};
