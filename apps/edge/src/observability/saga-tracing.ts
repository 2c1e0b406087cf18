import type { TSagaEndEvent, TSagaStepEvent } from '@otesse/saga';
import { recordSpan, rootSpanIdOf, toOtelTraceId } from '@otesse/telemetry';

/** The saga's OTel trace: the request's trace id it was started with, else one derived from the saga id. */
export function sagaTraceId(ev: { sagaId: string; traceId: string | undefined }): string {
  return toOtelTraceId(ev.traceId ?? ev.sagaId);
}

/**
 * One span per step attempt, recorded when the engine reports it (start = end − duration), under the saga's span.
 * The saga span's id is the trace's root id, which the step commands' NATS spans already name as their parent.
 */
export function recordStepSpan(service: string, ev: TSagaStepEvent, endTime = Date.now()): void {
  const traceId = sagaTraceId(ev);
  recordSpan(service, `${ev.phase === 'compensate' ? 'compensate' : 'step'} ${ev.step}`, {
    traceId,
    parentSpanId: rootSpanIdOf(traceId),
    startTime: endTime - ev.durationMs,
    endTime,
    attributes: {
      'saga.id': ev.sagaId,
      'saga.type': ev.type,
      'saga.step': ev.step,
      'saga.phase': ev.phase,
      'saga.attempt': ev.attempt,
      'saga.retryable': ev.retryable,
      'otesse.outcome': ev.outcome === 'succeeded' ? 'ok' : 'failed',
    },
    outcome: ev.outcome === 'succeeded' ? 'ok' : 'failed',
  });
}

/** The saga's own span, recorded when it ends: the root of its trace, covering creation to terminal status. */
export function recordSagaSpan(service: string, ev: TSagaEndEvent, endTime = Date.now()): void {
  const traceId = sagaTraceId(ev);
  recordSpan(service, `saga ${ev.type}`, {
    traceId,
    spanId: rootSpanIdOf(traceId),
    startTime: endTime - ev.durationMs,
    endTime,
    attributes: { 'saga.id': ev.sagaId, 'saga.type': ev.type, 'saga.status': ev.status },
    outcome: ev.status === 'completed' ? 'ok' : ev.status,
  });
}
