import { describe, expect, it } from 'vitest';
import { NO_VIOLATIONS, runSmallChaos } from './chaos-test-setup';

/**
 * `npm run chaos` at a small size (issue 8, Faults): disconnects, reconnects and user changes through the edge
 * while random services are SIGKILLed and restarted, random services lose their path to Postgres for a moment,
 * and NATS is restarted once. Afterwards every saga is
 * completed or compensated and every invariant holds in the services' own databases and on JetStream.
 */
describe('chaos (small)', () => {
  it('every saga settles and the invariants hold after kills of random services, cuts of their database paths, a Postgres outage for all and a NATS restart', async () => {
    const r = await runSmallChaos({ replicas: 1, natsRestartAfterKills: 1, seed: 8 });
    // The faults happened, and the clients got their work done through them.
    expect(r.faults.kills).toBeGreaterThanOrEqual(1);
    expect(r.faults.databaseCuts).toBeGreaterThanOrEqual(1);
    expect(r.faults.natsRestarts).toBe(1);
    expect(r.faults.databaseOutages).toBe(1);
    expect(r.workload.disconnects).toBeGreaterThanOrEqual(4);
    expect(r.workload.reconnects).toBeGreaterThanOrEqual(4);
    expect(r.traffic.gaveUp).toBe(0);
    // Every saga ended completed or compensated, and nothing broke the sagas' promises.
    const { counts } = r.report;
    expect(counts.stuck).toBe(0);
    expect(counts.completed + counts.compensated).toBe(counts.sagas);
    expect(counts.byType['disconnect']?.completed).toBeGreaterThanOrEqual(4);
    expect(r.report.violations).toEqual(NO_VIOLATIONS);
  }, 300_000);
});
