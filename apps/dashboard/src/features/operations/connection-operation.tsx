import type { TConnectionView } from '../../trpc/router-types';
import { useOpenDisconnectDialog } from '../disconnect/disconnect-dialog-context';
import { operationName } from '../catalogue/integration-status';
import { failureCauseText, stepLabel } from '../disconnect/disconnect-steps';
import { ResumeOperationButton } from './resume-operation-button';

/**
 * What runs on a connection, or stopped on it: a disconnect in progress (after the dialog was closed, or resumed
 * by another edge after a crash) with its live progress, or one that stopped past its point of no return, with
 * why and a way to resume it once the cause is fixed.
 */
export function ConnectionOperation({
  connection: c,
  providerName,
  canResume,
}: {
  connection: TConnectionView;
  providerName: string;
  canResume: boolean;
}) {
  const open = useOpenDisconnectDialog();
  const op = c.operation;
  if (!op) return null;
  const name = operationName(op.type);
  // Screen readers hear whose button it is: each card has its own.
  const whose = (
    <span className="visually-hidden">
      {' '}
      of the {providerName} {name}
    </span>
  );
  const isDisconnect = op.type === 'disconnect';
  const showProgress = () => open({ connectionId: c.id, providerName, sagaId: op.sagaId });
  if (!op.needsResume) {
    return (
      <div className="alert alert-info" data-testid="operation-in-progress">
        <span role="status">
          A {name} is in progress
          {op.currentStep ? `: ${stepLabel(op.currentStep).toLowerCase()}` : ''}.
        </span>
        {isDisconnect && (
          <div className="button-row">
            <button type="button" className="button" aria-haspopup="dialog" onClick={showProgress}>
              Show progress{whose}
            </button>
          </div>
        )}
      </div>
    );
  }
  return (
    <div className="alert alert-error" role="alert" data-testid="operation-stopped">
      <strong className="alert-title">
        The {name} stopped at “{stepLabel(op.error?.step ?? op.currentStep ?? 'unknown')}”.
      </strong>
      <span>
        {op.error ? `It kept failing: ${failureCauseText(op.error)}. ` : ''}
        What it already did stays done{isDisconnect ? ' (the credentials may be destroyed)' : ''}.
        {canResume
          ? ' Once the cause is fixed, resume it: it continues from that step.'
          : ' Whoever started it or an admin can resume it once the cause is fixed.'}
      </span>
      <div className="button-row">
        {canResume && (
          <ResumeOperationButton
            sagaId={op.sagaId}
            label={`Resume ${name}`}
            hiddenLabel={` of ${providerName}`}
            {...(isDisconnect ? { onResumed: showProgress } : {})}
          />
        )}
        {isDisconnect && (
          <button type="button" className="button" aria-haspopup="dialog" onClick={showProgress}>
            Show steps{whose}
          </button>
        )}
      </div>
    </div>
  );
}
