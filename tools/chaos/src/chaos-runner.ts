import { startChaosHarness, type TChaosHarness } from './chaos-harness';
import { newFaultLog, runFaults, seededRandom, type TFaultLog } from './chaos-faults';
import { checkInvariants, sagaCounts, type TInvariantReport } from './chaos-invariants';
import { runWorkload, type TWorkloadStats } from './chaos-workload';
import { newTraffic, type TEdgeTraffic } from './edge-client';

export interface TChaosOptions {
  /** Disconnects, and as many reconnects, to complete. */
  operations: number;
  /** Concurrent clients, each its own Otesse user. */
  clients: number;
  killEveryMs: number;
  downMs: number;
  /** Kills before NATS is restarted (once). */
  natsRestartAfterKills: number;
  /** Every n-th fault cuts a service's path to Postgres instead of killing a process; 0: never. */
  databaseCutEvery: number;
  /** Kills before every service's path to Postgres is cut at once (once: a Postgres restart); 0: never. */
  databaseOutageAfterKills: number;
  /** Processes per service. */
  replicas: number;
  /** Every n-th cycle of a slot changes its user first; 0: never. */
  changeUserEvery: number;
  /** After the faults stop, how long sagas and invariants may take to settle. */
  settleMs: number;
  /** The whole run gives up (and reports) after this long. */
  maxRunMs: number;
  seed: number;
  sagaLeaseMs: number;
  log?: (line: string) => void;
  /** Log every kill as it happens. */
  verbose?: boolean;
  /** An already running harness (tests that share one); otherwise one is started and closed. */
  harness?: TChaosHarness;
}

export interface TChaosResult {
  options: Omit<TChaosOptions, 'log' | 'harness' | 'verbose'>;
  workload: TWorkloadStats;
  faults: TFaultLog;
  traffic: TEdgeTraffic;
  report: TInvariantReport;
  /** From the faults stopping until every saga was terminal and every invariant held (or settleMs). */
  settledInMs: number;
  /** Per invariant violated while settling: when it was last seen violated, in ms after the faults stopped. */
  lastViolatedMs: Record<string, number>;
  settled: boolean;
  runMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * One chaos run: clients disconnect and reconnect (and change users) through the edge while the fault injector
 * kills random services and restarts NATS once; then the faults stop and, within `settleMs`, every saga must be
 * completed or compensated and every invariant must hold (see chaos-invariants.ts).
 */
export async function runChaos(opts: TChaosOptions): Promise<TChaosResult> {
  const log = opts.log ?? (() => undefined);
  const started = Date.now();
  const own = !opts.harness;
  log(`starting the stack (${opts.replicas} replica(s) per service)…`);
  const h =
    opts.harness ??
    (await startChaosHarness({
      replicas: opts.replicas,
      users: opts.clients,
      // The unlinker: the org's QuickBooks connected, disconnected and unlinked under the same faults.
      admins: 1,
      sagaLeaseMs: opts.sagaLeaseMs,
    }));
  try {
    const traffic = newTraffic();
    const faultStop = { requested: false };
    const workStop = { requested: false };
    log(
      `chaos: ${opts.clients} clients, ${opts.operations} disconnects and reconnects, a fault every ~${opts.killEveryMs} ms ` +
        `(${opts.databaseCutEvery ? `every ${opts.databaseCutEvery}th a service's path to Postgres cut, the others a kill` : 'kills'}), ` +
        `NATS restarted after ${opts.natsRestartAfterKills} kills` +
        (opts.databaseOutageAfterKills
          ? `, Postgres out of reach for everyone after ${opts.databaseOutageAfterKills}`
          : '') +
        `, seed ${opts.seed}`,
    );
    const faultLog = newFaultLog();
    let faultError: unknown;
    const faultsDone = runFaults(
      {
        stack: h.stack,
        nats: h.nats,
        killEveryMs: opts.killEveryMs,
        downMs: opts.downMs,
        natsRestartAfterKills: opts.natsRestartAfterKills,
        databaseCutEvery: opts.databaseCutEvery,
        databaseOutageAfterKills: opts.databaseOutageAfterKills,
        databasePaths: h.databasePaths,
        stop: faultStop,
        random: seededRandom(opts.seed),
        log,
        ...(opts.verbose ? { verbose: log } : {}),
      },
      faultLog,
    ).catch((e: unknown) => {
      // A process that would not come back: stop the clients, report it below.
      faultError = e;
      workStop.requested = true;
    });
    const deadline = setTimeout(() => {
      log('  ! maxRunMs reached: stopping');
      workStop.requested = true;
    }, opts.maxRunMs);
    let workload: TWorkloadStats;
    try {
      // The clients go on until their disconnects are done and NATS has had its restart.
      workload = await runWorkload({
        users: h.users.filter((u) => u.role === 'member'),
        edgeUrls: h.stack.edgeUrls,
        operations: opts.operations,
        changeUserEvery: opts.changeUserEvery,
        ...(h.users.some((u) => u.role === 'admin')
          ? { unlinker: h.users.find((u) => u.role === 'admin')! }
          : {}),
        canFinish: () =>
          faultLog.natsRestarts > 0 &&
          (!opts.databaseOutageAfterKills || faultLog.databaseOutages > 0),
        traffic,
        stop: workStop,
        log,
      });
    } finally {
      clearTimeout(deadline);
      faultStop.requested = true;
      await faultsDone;
    }
    if (faultError) throw faultError;
    const faultsStopped = Date.now();
    log(
      `faults stopped: ${faultLog.kills} kills, ${faultLog.natsRestarts} NATS restart(s), ${faultLog.databaseCuts} database path cut(s), ${faultLog.databaseOutages} Postgres outage(s); ` +
        `${workload.disconnects} disconnects, ${workload.reconnects} reconnects, ${workload.userChanges} user changes, ${workload.unlinks} unlinks`,
    );

    // Settling: every saga terminal and every invariant holding, within settleMs of the last fault.
    // What held things up: each invariant's last violated check, and open sagas', after the faults stopped.
    const lastViolatedMs: Record<string, number> = {};
    const note = (r: TInvariantReport): TInvariantReport => {
      for (const [k, v] of Object.entries(r.violations))
        if (v > 0) lastViolatedMs[k] = Date.now() - faultsStopped;
      return r;
    };
    let report = note(await checkInvariants(h.db, h.nc));
    while (report.totalViolations > 0 && Date.now() - faultsStopped < opts.settleMs) {
      await sleep(1_000);
      const counts = await sagaCounts(h.db);
      if (counts.stuck > 0) {
        lastViolatedMs['sagas still open (before the invariants are checked)'] =
          Date.now() - faultsStopped;
        continue;
      }
      report = note(await checkInvariants(h.db, h.nc));
    }
    if (report.totalViolations > 0) report = note(await checkInvariants(h.db, h.nc));
    const settledInMs = Date.now() - faultsStopped;
    return {
      options: {
        operations: opts.operations,
        clients: opts.clients,
        killEveryMs: opts.killEveryMs,
        downMs: opts.downMs,
        natsRestartAfterKills: opts.natsRestartAfterKills,
        databaseCutEvery: opts.databaseCutEvery,
        databaseOutageAfterKills: opts.databaseOutageAfterKills,
        replicas: opts.replicas,
        changeUserEvery: opts.changeUserEvery,
        settleMs: opts.settleMs,
        maxRunMs: opts.maxRunMs,
        seed: opts.seed,
        sagaLeaseMs: opts.sagaLeaseMs,
      },
      workload,
      faults: faultLog,
      traffic,
      report,
      settledInMs,
      lastViolatedMs,
      settled: report.totalViolations === 0,
      runMs: Date.now() - started,
    };
  } finally {
    if (own) await h.close();
  }
}

/** The human-readable summary and the last-line JSON of `npm run chaos`. */
export function formatChaosResult(r: TChaosResult): string {
  const lines: string[] = [];
  const { counts } = r.report;
  lines.push('', 'chaos run');
  lines.push(
    `  faults          ${r.faults.kills} SIGKILLs (${Object.entries(r.faults.killsByService)
      .map(([s, k]) => `${s} ${k}`)
      .join(
        ', ',
      )}), ${r.faults.natsRestarts} NATS restart(s), ${r.faults.databaseCuts} database path cut(s)${
      r.faults.databaseCuts
        ? ` (${Object.entries(r.faults.databaseCutsByService)
            .map(([s, k]) => `${s} ${k}`)
            .join(', ')})`
        : ''
    }, ${r.faults.databaseOutages} Postgres outage(s) for every service at once`,
  );
  if (r.faults.outageMs.length) {
    const sorted = [...r.faults.outageMs].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
    lines.push(
      `  outages         a killed process was back (ready) after ${(median / 1000).toFixed(1)} s median, ` +
        `${((sorted.at(-1) ?? 0) / 1000).toFixed(1)} s at most`,
    );
  }
  lines.push(
    `  clients         ${r.workload.disconnects} disconnects, ${r.workload.reconnects} reconnects ` +
      `(${r.workload.connects} connects), ${r.workload.userChanges} user changes ` +
      `(${r.workload.userChangesRefused} refused), ${r.workload.disconnectsCompensated} disconnects compensated, ` +
      `${r.workload.connectsCancelled} orphaned connects cancelled`,
  );
  lines.push(
    `  edge requests   ${r.traffic.requests} (${r.traffic.retries} retried after an edge went away, ` +
      `${r.traffic.failovers} to another replica, ${r.traffic.gaveUp} gave up)`,
  );
  const errors = Object.entries(r.workload.errors).sort((a, b) => b[1] - a[1]);
  if (errors.length)
    lines.push(`  client errors   ${errors.map(([k, v]) => `${k} ×${v}`).join(', ')}`);
  lines.push(
    `  sagas           ${counts.sagas}: ${counts.completed} completed, ${counts.compensated} compensated, ${counts.stuck} stuck`,
  );
  for (const [type, c] of Object.entries(counts.byType))
    lines.push(
      `    ${type.padEnd(13)} ${c.sagas}: ${c.completed} completed, ${c.compensated} compensated`,
    );
  lines.push(`  settled in      ${(r.settledInMs / 1000).toFixed(1)} s after the faults stopped`);
  for (const [k, ms] of Object.entries(r.lastViolatedMs).sort((a, b) => b[1] - a[1]))
    lines.push(`    ${k}: last seen at ${(ms / 1000).toFixed(1)} s`);
  lines.push('  invariants');
  for (const [k, v] of Object.entries(r.report.violations)) {
    const ex = r.report.examples[k];
    lines.push(
      `    ${v === 0 ? 'ok  ' : 'FAIL'} ${k}: ${v}${ex ? ` (e.g. ${ex.join(', ')})` : ''}`,
    );
  }
  lines.push('  observations');
  for (const [k, v] of Object.entries(r.report.observations)) lines.push(`    ${k}: ${v}`);
  lines.push(
    `    connects answered "failed" that left the connection connected: ${r.workload.failedConnectsLeftConnected}`,
  );
  lines.push(`  run time        ${(r.runMs / 1000).toFixed(0)} s`);
  lines.push(
    JSON.stringify({
      bench: 'chaos',
      sagas: counts.sagas,
      completed: counts.completed,
      compensated: counts.compensated,
      stuck: counts.stuck,
      violations: r.report.totalViolations,
    }),
  );
  return lines.join('\n');
}
