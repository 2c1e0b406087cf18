import type { TStack, TStackService, TTcpProxy, TTestNats } from '@otesse/testing';

export const CHAOS_TARGETS: readonly TStackService[] = [
  'edge',
  'credential-vault',
  'sync-scheduler',
  'connection',
  'audit',
];

export interface TFaultOptions {
  stack: TStack;
  nats: TTestNats;
  /** A kill every this many ms (± 25 %), counted from the previous victim being back. */
  killEveryMs: number;
  /** How long a killed process stays down before it is started again (± 50 %). */
  downMs: number;
  /** Restart NATS (SIGKILL, same port and JetStream store) once, after this many kills. */
  natsRestartAfterKills: number;
  /**
   * Every n-th fault (the first one too) cuts a random service's path to Postgres for `downMs` (± 50 %) instead of
   * killing a process (its sessions reset, new ones refused, as in a restart or a failover); 0: never.
   */
  databaseCutEvery?: number;
  databasePaths?: Map<TStackService, TTcpProxy>;
  /**
   * Once, after this many kills, every service's path to Postgres is cut at the same moment for `downMs` (± 50 %):
   * what a Postgres restart or failover looks like to the whole stack, the edge's saga log included. 0 or unset:
   * never.
   */
  databaseOutageAfterKills?: number;
  stop: { requested: boolean };
  /** Deterministic choice of victims. */
  random: () => number;
  log?: (line: string) => void;
  /** Every kill, as it happens. */
  verbose?: (line: string) => void;
}

export interface TFaultLog {
  kills: number;
  killsByService: Record<string, number>;
  natsRestarts: number;
  /** Restarts that had to be tried again (the process did not come up the first time). */
  restartRetries: number;
  /** Per kill: from SIGKILL until the process answered /readyz again. */
  outageMs: number[];
  /** Times a service's path to Postgres was cut (and restored). */
  databaseCuts: number;
  databaseCutsByService: Record<string, number>;
  /** Times every path to Postgres was cut at once (and restored). */
  databaseOutages: number;
}

export const newFaultLog = (): TFaultLog => ({
  kills: 0,
  killsByService: {},
  databaseCuts: 0,
  databaseCutsByService: {},
  databaseOutages: 0,
  natsRestarts: 0,
  restartRetries: 0,
  outageMs: [],
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The fault injector: every few seconds a random replica of a random service is SIGKILLed, stays down a moment
 * and is started again (waiting for its /readyz), or (every `databaseCutEvery`-th fault) a random service loses its
 * path to Postgres for a moment; NATS itself is killed and restarted once, and every path to Postgres is cut at once,
 * once. `log` fills as it
 * goes; returns when `stop` is requested, with every process running again.
 */
export async function runFaults(
  opts: TFaultOptions,
  log: TFaultLog = newFaultLog(),
): Promise<TFaultLog> {
  const jitter = (ms: number, spread: number): number =>
    Math.max(0, Math.round(ms * (1 - spread + 2 * spread * opts.random())));
  const pause = async (ms: number): Promise<void> => {
    const until = Date.now() + ms;
    while (!opts.stop.requested && Date.now() < until)
      await sleep(Math.min(100, until - Date.now()));
  };
  const bringBack = async (service: TStackService, replica: number): Promise<void> => {
    for (let attempt = 0; ; attempt += 1) {
      try {
        await opts.stack.start(service, replica);
        return;
      } catch (e) {
        // NATS or Postgres busy while it started: try again, the run must end with everything up.
        if (attempt >= 4) throw e;
        log.restartRetries += 1;
        opts.log?.(
          `  ! ${service}#${replica} did not start, retrying: ${(e as Error).message.split('\n')[0]}`,
        );
        await sleep(1_000);
      }
    }
  };

  for (let fault = 1; !opts.stop.requested; fault += 1) {
    await pause(jitter(opts.killEveryMs, 0.25));
    if (opts.stop.requested) break;
    if (log.natsRestarts === 0 && log.kills >= opts.natsRestartAfterKills) {
      opts.log?.('  ⚡ NATS killed and restarted (same port, JetStream store kept)');
      await opts.nats.restart();
      log.natsRestarts += 1;
      continue;
    }
    const paths = [...(opts.databasePaths?.values() ?? [])];
    if (
      opts.databaseOutageAfterKills &&
      paths.length > 0 &&
      log.databaseOutages === 0 &&
      log.kills >= opts.databaseOutageAfterKills
    ) {
      opts.log?.(
        "  ⌁ every service's path to Postgres cut at once (a Postgres restart), then restored",
      );
      for (const p of paths) p.cut();
      try {
        await sleep(jitter(opts.downMs, 0.5));
      } finally {
        for (const p of paths) p.restore();
      }
      log.databaseOutages += 1;
      continue;
    }
    const service = CHAOS_TARGETS[Math.floor(opts.random() * CHAOS_TARGETS.length)] ?? 'edge';
    const path = opts.databasePaths?.get(service);
    if (path && opts.databaseCutEvery && (fault - 1) % opts.databaseCutEvery === 0) {
      path.cut();
      try {
        await sleep(jitter(opts.downMs, 0.5));
      } finally {
        path.restore();
      }
      log.databaseCuts += 1;
      log.databaseCutsByService[service] = (log.databaseCutsByService[service] ?? 0) + 1;
      opts.verbose?.(`  ⌁ ${service}'s path to Postgres cut, then restored`);
      continue;
    }
    const replica = Math.floor(opts.random() * opts.stack.replicasOf(service));
    const killedAt = Date.now();
    await opts.stack.kill(service, 'SIGKILL', replica);
    log.kills += 1;
    log.killsByService[service] = (log.killsByService[service] ?? 0) + 1;
    await sleep(jitter(opts.downMs, 0.5));
    await bringBack(service, replica);
    log.outageMs.push(Date.now() - killedAt);
    opts.verbose?.(`  ✝ ${service}#${replica} killed, back after ${Date.now() - killedAt} ms`);
  }
  return log;
}

/** A small deterministic PRNG (mulberry32), so a run's victims can be replayed with CHAOS_SEED. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
