import type { TSagaStep, TSagaView } from '../../trpc/router-types';
import { ResumeOperationButton } from '../operations/resume-operation-button';
import { readSummary, sagaErrorText } from './disconnect-steps';

function revocationText(
  supported: boolean | null,
  succeeded: boolean | null,
  note: TSagaStep['note'] | undefined,
): string {
  if (note === 'not_applicable') return 'Not applicable (API key: no OAuth tokens)';
  if (note === 'grant_in_use') return 'Skipped: another connection uses the same grant';
  if (supported === false) return 'Not supported by this provider';
  if (succeeded === true) return 'Revoked at the provider';
  if (succeeded === false) return 'Failed (see warnings)';
  return '—';
}

/** The outcome: what was done, and what needs attention (e.g. a revocation that failed). */
export function DisconnectResult({
  saga,
  providerName,
  onResumed,
}: {
  saga: TSagaView;
  providerName: string;
  onResumed?(saga: TSagaView): void;
}) {
  if (saga.status === 'failed') {
    // Past the point of no return: not undone, not finished. It waits for a resume.
    const e = saga.error;
    return (
      <div className="alert alert-error" role="alert" data-testid="disconnect-result">
        <strong className="alert-title">The disconnect of {providerName} stopped part-way.</strong>
        <span>
          {e ? `${sagaErrorText(e)} ` : ''}
          The steps marked done stay done (the credentials may already be destroyed). Once the cause
          is fixed, resume it: it continues from that step.
        </span>
        <div className="button-row">
          <ResumeOperationButton
            sagaId={saga.id}
            label="Resume disconnect"
            hiddenLabel={` of ${providerName}`}
            {...(onResumed ? { onResumed } : {})}
          />
        </div>
      </div>
    );
  }
  if (saga.status !== 'completed') {
    // Before the point of no return: everything it did was undone. The connection is as it was.
    const e = saga.error;
    return (
      <div className="alert alert-error" role="alert" data-testid="disconnect-result">
        <strong className="alert-title">{providerName} was not disconnected.</strong>
        <span>
          {e ? `${sagaErrorText(e, false)} ` : ''}
          {saga.status === 'compensated'
            ? 'Nothing was changed: what it had done was undone, and the connection works as before. Try again in a moment.'
            : 'Try again in a moment.'}
        </span>
      </div>
    );
  }
  const s = readSummary(saga.result);
  const revocationNote = saga.steps.find((x) => x.name === 'revoke-tokens')?.note;
  return (
    <div className="stack" data-testid="disconnect-result">
      <p className="alert alert-info" role="status">
        <strong className="alert-title">{providerName} is disconnected.</strong>
        {s.instanceRevoked === false
          ? 'Other users keep it connected for your organization.'
          : 'Synced data is kept and marked stale; Connect is available again in All Integrations.'}
      </p>
      <dl className="facts">
        <div>
          <dt>Sync jobs disabled</dt>
          <dd>{s.syncJobsDisabled ?? '—'}</dd>
        </div>
        <div>
          <dt>Running syncs cancelled</dt>
          <dd data-testid="executions-cancelled">{s.executionsCancelled ?? '—'}</dd>
        </div>
        <div>
          <dt>Credentials deleted</dt>
          <dd>{s.credentialsDeleted ?? '—'}</dd>
        </div>
        <div>
          <dt>Token revocation</dt>
          <dd>{revocationText(s.revocationSupported, s.revocationSucceeded, revocationNote)}</dd>
        </div>
        <div>
          <dt>References marked stale</dt>
          <dd>{s.referencesMarkedStale ?? '—'}</dd>
        </div>
      </dl>
      {s.warnings.length > 0 && (
        <div className="alert alert-warning" data-testid="disconnect-warnings">
          <div>
            <strong className="alert-title">Warnings</strong>
            <ul>
              {s.warnings.map((w) => (
                <li key={w}>{w}</li>
              ))}
            </ul>
          </div>
        </div>
      )}
    </div>
  );
}
