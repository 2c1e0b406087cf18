import type { TSagaView } from '../../trpc/router-types';
import { shownSteps, stepIcon, stepLabel, stepStatusText } from './disconnect-steps';

/** The saga's step timeline, live from the progress subscription. */
export function DisconnectProgress({ saga }: { saga: TSagaView | null }) {
  if (!saga) {
    return (
      <p className="muted" role="status">
        Starting…
      </p>
    );
  }
  return (
    <ol className="steps" aria-label="Disconnect steps" data-testid="disconnect-steps">
      {shownSteps(saga.steps).map((s) => (
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
      ))}
    </ol>
  );
}
