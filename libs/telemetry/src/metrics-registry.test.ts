import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { counter, histogram, metricsRegistry, metricsText, serveMetrics } from './metrics-registry';

describe('metrics registry', () => {
  it('exposes fast histograms in the Prometheus text format, buckets cumulative', async () => {
    const h = histogram(
      'test_latency_seconds',
      'test latency',
      ['subject', 'outcome'],
      [0.01, 0.1, 1],
    );
    expect(histogram('test_latency_seconds', 'again', ['subject', 'outcome'])).toBe(h);
    const ok = h.labels('a.b', 'ok');
    ok.observe(0.005);
    ok.observe(0.05);
    ok.observe(5);
    h.labels('a.b', 'TIMEOUT').observe(0.5);
    const text = await metricsText();
    expect(text).toContain('# TYPE test_latency_seconds histogram');
    expect(text).toContain('test_latency_seconds_bucket{subject="a.b",outcome="ok",le="0.01"} 1');
    expect(text).toContain('test_latency_seconds_bucket{subject="a.b",outcome="ok",le="0.1"} 2');
    expect(text).toContain('test_latency_seconds_bucket{subject="a.b",outcome="ok",le="1"} 2');
    expect(text).toContain('test_latency_seconds_bucket{subject="a.b",outcome="ok",le="+Inf"} 3');
    expect(text).toContain('test_latency_seconds_sum{subject="a.b",outcome="ok"} 5.055');
    expect(text).toContain('test_latency_seconds_count{subject="a.b",outcome="ok"} 3');
    expect(text).toContain('test_latency_seconds_count{subject="a.b",outcome="TIMEOUT"} 1');
    // Default process metrics come along (RSS is what the load issue reads).
    expect(text).toContain('process_resident_memory_bytes');
  });

  it('creates a counter once and serves everything on /metrics', async () => {
    const c = counter('test_things_total', 'things', ['kind']);
    expect(counter('test_things_total', 'things', ['kind'])).toBe(c);
    c.labels('x').inc(3);
    expect(metricsRegistry.getSingleMetric('test_things_total')).toBe(c);
    const server = createServer((_req, res) => serveMetrics(res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const addr = server.address() as { port: number };
      const res = await fetch(`http://127.0.0.1:${addr.port}/metrics`);
      expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
      expect(await res.text()).toContain('test_things_total{kind="x"} 3');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
