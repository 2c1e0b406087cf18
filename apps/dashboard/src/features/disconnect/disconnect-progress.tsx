import type { TSagaView } from '../../trpc/router-types';
import { STEP_ICON, STEP_STATUS_TEXT, stepLabel } from './disconnect-steps';

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
      {saga.steps.map((s) => (
        <li
          key={s.name}
          className={`step step-${s.status}`}
          data-step={s.name}
          data-status={s.status}
        >
          <span className="step-icon" aria-hidden="true">
            {STEP_ICON[s.status]}
          </span>
          <span className="step-label">{stepLabel(s.name)}</span>
          <span className="step-meta">
            {STEP_STATUS_TEXT[s.status]}
            {s.attempts > 1 ? ` · attempt ${s.attempts}` : ''}
          </span>
        </li>
      ))}
    </ol>
  );
}
