import type { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { TSagaEndEvent, TSagaStepEvent } from '@otesse/saga';
import { ensureTracing, flushTracing, serveMetrics } from '@otesse/telemetry';
import { installSagaGauges, recordSagaMetrics, recordStepMetrics } from './saga-metrics';
import { recordSagaSpan, recordStepSpan } from './saga-tracing';

export interface TEdgeObservability {
  /** Answers `GET /metrics` with this process's Prometheus registry (sagas, NATS requests, process). */
  serveMetrics(res: ServerResponse): void;
  /** Detaches from the engine and sends the spans still batched (call on graceful stop). */
  stop(): Promise<void>;
}

/**
 * Saga metrics and spans for the edge, built from the saga engine's `step` and `saga` events. Tracing itself
 * starts from the environment (OTEL_EXPORTER_OTLP_ENDPOINT) unless the process initialised it already.
 */
export function installObservability(
  sagas: Pick<EventEmitter, 'on' | 'off'>,
  opts: {
    service?: string;
    /** Open and stopped sagas from the log, read at each scrape (`otesse_sagas`). */
    countUnfinished?: () => Promise<{ type: string; status: string; count: number }[]>;
  } = {},
): TEdgeObservability {
  ensureTracing();
  if (opts.countUnfinished) installSagaGauges(opts.countUnfinished);
  const service = opts.service ?? 'edge';
  // The engine emits synchronously from its step loop: telemetry must never throw into a saga.
  const onStep = (ev: TSagaStepEvent): void => {
    try {
      recordStepMetrics(ev);
      recordStepSpan(service, ev);
    } catch {
      // Best effort by design.
    }
  };
  const onSaga = (ev: TSagaEndEvent): void => {
    try {
      recordSagaMetrics(ev);
      recordSagaSpan(service, ev);
    } catch {
      // Best effort by design.
    }
  };
  sagas.on('step', onStep);
  sagas.on('saga', onSaga);
  return {
    serveMetrics,
    stop: async () => {
      sagas.off('step', onStep);
      sagas.off('saga', onSaga);
      await flushTracing().catch(() => undefined);
    },
  };
}
