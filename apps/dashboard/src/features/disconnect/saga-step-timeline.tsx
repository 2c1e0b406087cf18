import type { TSagaStep, TSagaView } from '../../trpc/router-types';
import { shownSteps, stepIcon, stepStatusText } from './disconnect-steps';

/**
 * A saga's step timeline as its dialog shows it (disconnect, unlink): each step's icon, label, status and attempts,
 * "Starting…" until the saga is known.
 */
export function SagaStepTimeline({
  saga,
  label,
  testId,
  stepLabel,
  withNotes,
}: {
  saga: TSagaView | null;
  /** The list's accessible name. */
  label: string;
  testId: string;
  stepLabel(name: string, note: TSagaStep['note']): string;
  /** Whether the steps' notes show (the disconnect's: a revocation's warning, whose references were marked). */
  withNotes: boolean;
}) {
  if (!saga) {
    return (
      <p className="muted" role="status">
        Starting…
      </p>
    );
  }
  return (
    <ol className="steps" aria-label={label} data-testid={testId}>
      {shownSteps(saga.steps).map((step) => {
        const s = withNotes ? step : { ...step, note: null };
        return (
          <li
            key={s.name}
            className={`step step-${s.status}${s.note ? ` step-note-${s.note}` : ''}`}
            data-step={s.name}
            data-status={s.status}
            data-note={s.note ?? undefined}
          >
            <span className="step-icon" aria-hidden="true">
              {stepIcon(s)}
            </span>
            <span className="step-label">{stepLabel(s.name, s.note)}</span>
            <span className="step-meta">
              {stepStatusText(s)}
              {s.attempts > 1 ? ` · attempt ${s.attempts}` : ''}
            </span>
          </li>
        );
      })}
    </ol>
  );
}
