import type { TSagaEndEvent, TSagaStepEvent } from '@otesse/saga';
import { counter, histogram, scrapedGauge } from '@otesse/telemetry';

export const sagaDuration = histogram(
  'otesse_saga_duration_seconds',
  'Saga duration from creation to its terminal status, by saga type and status.',
  ['type', 'status'],
);

export const sagaStepDuration = histogram(
  'otesse_saga_step_duration_seconds',
  'Duration of one attempt of a saga step or compensation, by type, step, phase and outcome.',
  ['type', 'step', 'phase', 'outcome'],
);

export const sagaStepFailures = counter(
  'otesse_saga_step_failures_total',
  'Failed attempts of saga steps and compensations, by type, step, phase and whether they are retryable.',
  ['type', 'step', 'phase', 'retryable'],
);

export const sagaStepRetries = counter(
  'otesse_saga_step_retries_total',
  'Attempts beyond the first of saga steps and compensations (retries), by type, step and phase.',
  ['type', 'step', 'phase'],
);

export function recordStepMetrics(ev: TSagaStepEvent): void {
  sagaStepDuration.labels(ev.type, ev.step, ev.phase, ev.outcome).observe(ev.durationMs / 1_000);
  if (ev.outcome === 'failed') {
    sagaStepFailures.labels(ev.type, ev.step, ev.phase, String(ev.retryable)).inc();
  }
  if (ev.attempt > 1) sagaStepRetries.labels(ev.type, ev.step, ev.phase).inc();
}

export function recordSagaMetrics(ev: TSagaEndEvent): void {
  sagaDuration.labels(ev.type, ev.status).observe(ev.durationMs / 1_000);
}

/**
 * `otesse_sagas{type,status}`: sagas running, compensating, or stopped past their pivot (`failed`, waiting for a
 * resume) right now, from the saga log at each scrape. Every edge replica reports the same org-wide figures: alert
 * on `max by (type) (otesse_sagas{status="failed"}) > 0`.
 */
export function installSagaGauges(
  countUnfinished: () => Promise<{ type: string; status: string; count: number }[]>,
): void {
  scrapedGauge(
    'otesse_sagas',
    'Sagas in the log now that are running, compensating, or stopped past their pivot (failed: needs a resume), by type and status.',
    ['type', 'status'],
    async () =>
      (await countUnfinished()).map((r) => ({
        labels: { type: r.type, status: r.status },
        value: r.count,
      })),
  );
}
