import type { ServerResponse } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from 'prom-client';

/** One registry per process: every service's health server serves it on `/metrics`. */
export const metricsRegistry = new Registry();
// Process CPU, RSS, heap, event-loop lag, GC: what "idle RSS per service" and capacity planning read.
collectDefaultMetrics({ register: metricsRegistry });

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** Latency buckets (seconds) from a sub-millisecond NATS round trip to a multi-second saga. */
export const LATENCY_BUCKETS_SECONDS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

export interface THistogramChild {
  observe(seconds: number): void;
}

interface TChildState extends THistogramChild {
  labels: Record<string, string>;
  counts: Float64Array;
  sum: number;
  count: number;
}

/**
 * A Prometheus histogram for hot paths: a child per label set is a plain object whose `observe` is a bucket scan
 * and three additions (prom-client's hashes the labels on every observation, ~2 µs). Exposition goes through
 * prom-client's registry like any other metric.
 */
export class FastHistogram<L extends string = string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly children = new Map<string, TChildState>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly L[],
    private readonly buckets: readonly number[] = LATENCY_BUCKETS_SECONDS,
  ) {}

  /** The child for these label values, in `labelNames` order (cache it where the values are fixed). */
  labels(...values: string[]): THistogramChild {
    const key = values.length === 1 ? (values[0] as string) : values.join('\u0001');
    let child = this.children.get(key);
    if (!child) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i] ?? ''));
      const buckets = this.buckets;
      const c: TChildState = {
        labels,
        counts: new Float64Array(buckets.length),
        sum: 0,
        count: 0,
        observe(seconds: number): void {
          let i = 0;
          while (i < buckets.length && seconds > (buckets[i] as number)) i += 1;
          if (i < buckets.length) c.counts[i] = (c.counts[i] as number) + 1;
          c.sum += seconds;
          c.count += 1;
        },
      };
      child = c;
      this.children.set(key, child);
    }
    return child;
  }

  reset(): void {
    this.children.clear();
  }

  /** prom-client's metric protocol (cumulative buckets, `_sum`, `_count`). */
  async get(): Promise<{
    name: string;
    help: string;
    type: 'histogram';
    aggregator: 'sum';
    values: { metricName: string; labels: Record<string, string | number>; value: number }[];
  }> {
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] =
      [];
    for (const c of this.children.values()) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += c.counts[i] as number;
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { ...c.labels, le },
          value: cumulative,
        });
      });
      values.push({
        metricName: `${this.name}_bucket`,
        labels: { ...c.labels, le: '+Inf' },
        value: c.count,
      });
      values.push({ metricName: `${this.name}_sum`, labels: c.labels, value: c.sum });
      values.push({ metricName: `${this.name}_count`, labels: c.labels, value: c.count });
    }
    return { name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values };
  }
}

/** The registered histogram of that name, created on first use (modules may be evaluated more than once in tests). */
export function histogram<L extends string>(
  name: string,
  help: string,
  labelNames: readonly L[],
  buckets: readonly number[] = LATENCY_BUCKETS_SECONDS,
): FastHistogram<L> {
  const existing = metricsRegistry.getSingleMetric(name) as unknown;
  if (existing instanceof FastHistogram) return existing as FastHistogram<L>;
  const h = new FastHistogram<L>(name, help, labelNames, buckets);
  metricsRegistry.registerMetric(h as unknown as Metric);
  return h;
}

/** The registered counter of that name, created on first use. */
export function counter<L extends string>(
  name: string,
  help: string,
  labelNames: readonly L[],
): Counter<L> {
  const existing = metricsRegistry.getSingleMetric(name);
  if (existing instanceof Counter) return existing as Counter<L>;
  return new Counter<L>({ name, help, labelNames, registers: [metricsRegistry] });
}

/**
 * A gauge read at scrape time: `read` answers the current values by label set (e.g. from a database). A failed read
 * leaves the gauge empty for that scrape rather than failing `/metrics`.
 */
export function scrapedGauge<L extends string>(
  name: string,
  help: string,
  labelNames: readonly L[],
  read: () => Promise<{ labels: Record<L, string>; value: number }[]>,
): void {
  const existing = metricsRegistry.getSingleMetric(name);
  if (existing) metricsRegistry.removeSingleMetric(name);
  new Gauge<L>({
    name,
    help,
    labelNames,
    registers: [metricsRegistry],
    async collect() {
      this.reset();
      const rows = await read().catch(() => []);
      for (const r of rows) this.set(r.labels, r.value);
    },
  });
}

/** Everything in the registry, in Prometheus' text format. */
export function metricsText(): Promise<string> {
  return metricsRegistry.metrics();
}

/** Answers a `GET /metrics` (the health servers and the edge route call this). */
export function serveMetrics(res: ServerResponse): void {
  metricsText().then(
    (text) => res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(text),
    () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
  );
}
