import { EventEmitter } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import type { TSagaEndEvent, TSagaStepEvent } from '@otesse/saga';
import { initTracing, metricsText, rootSpanIdOf, shutdownTracing } from '@otesse/telemetry';
import { installObservability } from './install-observability';

const TRACE = '11112222333344445555666677778888';
const SAGA = '9b2f7c1e-4d7a-4e0b-8a51-0d1f2e3c4b5a';

const step = (over: Partial<TSagaStepEvent>): TSagaStepEvent => ({
  sagaId: SAGA,
  type: 'unit-saga',
  step: 'lock',
  phase: 'forward',
  outcome: 'succeeded',
  attempt: 1,
  retryable: false,
  durationMs: 3,
  traceId: TRACE,
  ...over,
});

/** The saga engine's event interface, driven directly: what each event becomes in metrics and spans. */
describe('installObservability (saga events → metrics and spans)', () => {
  const exporter = new InMemorySpanExporter();
  beforeAll(() => initTracing({ exporter, simple: true }));
  afterAll(() => shutdownTracing());

  it('turns step attempts and the saga end into metrics and spans under the saga', async () => {
    const engine = new EventEmitter();
    const obs = installObservability(engine);
    engine.emit('step', step({ step: 'lock' }));
    engine.emit('step', step({ step: 'jobs', outcome: 'failed', retryable: true, durationMs: 5 }));
    engine.emit('step', step({ step: 'jobs', outcome: 'failed', retryable: true, attempt: 2 }));
    engine.emit('step', step({ step: 'lock', phase: 'compensate', attempt: 1 }));
    const end: TSagaEndEvent = {
      sagaId: SAGA,
      type: 'unit-saga',
      status: 'compensated',
      durationMs: 40,
      traceId: TRACE,
    };
    engine.emit('saga', end);
    await obs.stop();
    // Detached: later events change nothing.
    engine.emit('saga', end);

    const text = await metricsText();
    expect(text).toContain(
      'otesse_saga_step_failures_total{type="unit-saga",step="jobs",phase="forward",retryable="true"} 2',
    );
    expect(text).toContain(
      'otesse_saga_step_retries_total{type="unit-saga",step="jobs",phase="forward"} 1',
    );
    expect(text).toContain(
      'otesse_saga_step_duration_seconds_count{type="unit-saga",step="lock",phase="compensate",outcome="succeeded"} 1',
    );
    expect(text).toContain(
      'otesse_saga_duration_seconds_count{type="unit-saga",status="compensated"} 1',
    );

    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => s.name)).toEqual([
      'step lock',
      'step jobs',
      'step jobs',
      'compensate lock',
      'saga unit-saga',
    ]);
    const saga = spans.at(-1)!;
    expect(saga.spanContext()).toMatchObject({ traceId: TRACE, spanId: rootSpanIdOf(TRACE) });
    expect(saga.status.code).toBe(2);
    for (const s of spans.slice(0, -1)) {
      expect(s.parentSpanContext?.spanId).toBe(rootSpanIdOf(TRACE));
      expect(s.spanContext().traceId).toBe(TRACE);
    }
    expect(spans[1]!.status.code).toBe(2);
    expect(spans[2]!.attributes).toMatchObject({ 'saga.attempt': 2, 'saga.retryable': true });
  });

  it('never throws into the engine, and traces a saga without a trace id under its own id', () => {
    const engine = new EventEmitter();
    installObservability(engine);
    expect(() => engine.emit('step', { nonsense: true })).not.toThrow();
    exporter.reset();
    engine.emit('saga', {
      sagaId: SAGA,
      type: 'unit-saga',
      status: 'completed',
      durationMs: 1,
      traceId: undefined,
    });
    expect(exporter.getFinishedSpans()[0]?.spanContext().traceId).toBe(SAGA.replaceAll('-', ''));
  });
});
