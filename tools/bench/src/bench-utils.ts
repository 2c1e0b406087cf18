/** Shared helpers for the benchmarks in tools/bench: plan settings, timing loops, percentiles, reporting. */
import { join } from 'node:path';

/** A positive integer from the environment (a plan override), else `fallback`. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  const n = raw ? Number(raw) : fallback;
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
  return n;
}

/**
 * With BENCH_PROFILE_DIR set, the environment that makes every process of the stack write a V8 CPU profile there
 * when it stops (where does the time go?); `onSignal`: profiling starts on SIGUSR2, not at start-up. Else nothing.
 */
export function profileEnv(opts: { onSignal?: boolean } = {}): Record<string, string> {
  if (!process.env['BENCH_PROFILE_DIR']) return {};
  return {
    NODE_OPTIONS: `--import ${join(import.meta.dirname, 'cpu-profile.preload.mjs')}`,
    ...(opts.onSignal ? { BENCH_PROFILE_ON_SIGNAL: '1' } : {}),
  };
}

/** Linear-interpolated percentile (0–100) of unsorted samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new Error('percentile of no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (Math.min(Math.max(p, 0), 100) / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo] ?? 0;
  const b = sorted[hi] ?? a;
  return a + (b - a) * (rank - lo);
}

export interface TStats {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function stats(samples: readonly number[]): TStats {
  return {
    count: samples.length,
    p50: percentile(samples, 50),
    p90: percentile(samples, 90),
    p99: percentile(samples, 99),
    max: Math.max(...samples),
    mean: samples.reduce((s, x) => s + x, 0) / samples.length,
  };
}

/** Runs `op` `count` times one after the other; returns each call's latency in ms. */
export async function timeSequential(count: number, op: () => Promise<unknown>): Promise<number[]> {
  const latencies = new Array<number>(count);
  for (let i = 0; i < count; i += 1) {
    const started = performance.now();
    await op();
    latencies[i] = performance.now() - started;
  }
  return latencies;
}

export interface TCase {
  name: string;
  op: () => Promise<unknown>;
}

export interface TRunPlan {
  warmup: number;
  runs: number;
  perRun: number;
}

/**
 * Warms every case up, then runs `runs` rounds of `perRun` sequential calls per case. The order of the cases
 * rotates each round, so drift (GC, CPU frequency, a noisy neighbour) does not favour one case.
 * Returns every latency (ms) per case, and each round's p50 per case.
 */
export async function runCases(
  cases: readonly TCase[],
  plan: TRunPlan,
): Promise<Map<string, { all: number[]; runP50s: number[] }>> {
  const out = new Map(cases.map((c) => [c.name, { all: [] as number[], runP50s: [] as number[] }]));
  for (const c of cases) await timeSequential(plan.warmup, c.op);
  for (let run = 0; run < plan.runs; run += 1) {
    for (let k = 0; k < cases.length; k += 1) {
      const c = cases[(run + k) % cases.length];
      if (!c) continue;
      const latencies = await timeSequential(plan.perRun, c.op);
      const slot = out.get(c.name);
      slot?.all.push(...latencies);
      slot?.runP50s.push(percentile(latencies, 50));
    }
  }
  return out;
}

/** Rounds to 4 significant decimals for printing and for the JSON line. */
export function round(value: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** A fixed-width text table (first column left-aligned, the rest right-aligned). */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The machine-readable result: one JSON line, always the last line a benchmark prints. */
export function printResultLine(result: { bench: string } & Record<string, number | string>): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
