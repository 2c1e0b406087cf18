import { afterEach, describe, expect, it } from 'vitest';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { startOtlpReceiver } from './otlp-receiver';
import { rootSpanIdOf } from './trace-context';
import {
  activeSpanContext,
  activeTraceFields,
  endSpan,
  flushTracing,
  initTracing,
  recordSpan,
  runInSpan,
  shutdownTracing,
  SpanKind,
  startSpan,
  tracingEnabled,
} from './tracing';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

describe('tracing', () => {
  afterEach(async () => {
    await shutdownTracing();
  });

  it('is off without an exporter: no-op spans, no active context, nothing on log lines', () => {
    initTracing({});
    expect(tracingEnabled()).toBe(false);
    const span = startSpan('svc', 'x', { parent: { traceId: TRACE, spanId: 'a3ce929d0e0e4736' } });
    expect(span.isRecording()).toBe(false);
    runInSpan(span, () => expect(activeSpanContext()).toBeUndefined());
    expect(activeTraceFields()).toEqual({});
  });

  it('records spans under a remote parent, per service, and keeps the active span across awaits', async () => {
    const exporter = new InMemorySpanExporter();
    initTracing({ exporter, simple: true });
    expect(tracingEnabled()).toBe(true);
    const server = startSpan('vault', 'vault.tokens.revoke', {
      kind: SpanKind.SERVER,
      parent: { traceId: TRACE, spanId: '00f067aa0ba902b7' },
      attributes: { 'messaging.system': 'nats' },
    });
    await runInSpan(server, async () => {
      await new Promise((r) => setTimeout(r, 5));
      const active = activeSpanContext();
      expect(active?.spanId).toBe(server.spanContext().spanId);
      expect(activeTraceFields()).toEqual({ traceId: TRACE, spanId: server.spanContext().spanId });
      const child = startSpan('vault', 'nested', {
        kind: SpanKind.CLIENT,
        parent: { traceId: TRACE, spanId: active!.spanId, isRemote: false },
      });
      endSpan(child, 'TIMEOUT', 'timeout');
    });
    endSpan(server, 'ok');
    expect(activeSpanContext()).toBeUndefined();

    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => s.name)).toEqual(['nested', 'vault.tokens.revoke']);
    const [nested, handler] = spans;
    expect(handler!.spanContext().traceId).toBe(TRACE);
    expect(handler!.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(handler!.resource.attributes['service.name']).toBe('vault');
    expect(handler!.attributes['otesse.outcome']).toBe('ok');
    expect(nested!.parentSpanContext?.spanId).toBe(handler!.spanContext().spanId);
    expect(nested!.status.code).toBe(2);
    expect(nested!.attributes['error.type']).toBe('TIMEOUT');
  });

  it('records after-the-fact spans with pinned ids and explicit times', () => {
    const exporter = new InMemorySpanExporter();
    initTracing({ exporter, simple: true });
    const end = Date.now();
    recordSpan('edge', 'saga disconnect', {
      traceId: TRACE,
      spanId: rootSpanIdOf(TRACE),
      startTime: end - 40,
      endTime: end,
    });
    recordSpan('edge', 'step lock', {
      traceId: TRACE,
      parentSpanId: rootSpanIdOf(TRACE),
      startTime: end - 30,
      endTime: end - 20,
      outcome: 'failed',
    });
    const [saga, step] = exporter.getFinishedSpans();
    expect(saga!.spanContext()).toMatchObject({ traceId: TRACE, spanId: rootSpanIdOf(TRACE) });
    expect(saga!.parentSpanContext).toBeUndefined();
    expect(saga!.duration[0] * 1e3 + saga!.duration[1] / 1e6).toBeCloseTo(40, 0);
    expect(step!.spanContext().traceId).toBe(TRACE);
    expect(step!.spanContext().spanId).not.toBe(rootSpanIdOf(TRACE));
    expect(step!.parentSpanContext?.spanId).toBe(rootSpanIdOf(TRACE));
    expect(step!.status.code).toBe(2);
    // Pins are consumed: the next span gets random ids.
    const next = startSpan('edge', 'x');
    expect(next.spanContext().traceId).not.toBe(TRACE);
    next.end();
  });

  it('exports over OTLP/HTTP (JSON) to a receiver, with service names and parents', async () => {
    const receiver = await startOtlpReceiver();
    try {
      initTracing({ tracesUrl: `${receiver.url}/v1/traces`, scheduleDelayMs: 50 });
      const a = startSpan('connection', 'connection.connections.get', {
        kind: SpanKind.SERVER,
        parent: { traceId: TRACE, spanId: rootSpanIdOf(TRACE) },
      });
      endSpan(a, 'NOT_FOUND');
      await flushTracing();
      const [got] = receiver.spans();
      expect(got).toMatchObject({
        service: 'connection',
        name: 'connection.connections.get',
        traceId: TRACE,
        parentSpanId: rootSpanIdOf(TRACE),
        kind: 2,
        statusCode: 2,
        attributes: { 'otesse.outcome': 'NOT_FOUND' },
      });
    } finally {
      await shutdownTracing();
      await receiver.close();
    }
  });
});
