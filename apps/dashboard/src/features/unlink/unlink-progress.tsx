import type { TSagaView } from '../../trpc/router-types';
import { ResumeOperationButton } from '../operations/resume-operation-button';
import { SagaStepTimeline } from '../disconnect/saga-step-timeline';
import {
  count,
  readUnlinkSummary,
  tenantNoun,
  unlinkSagaErrorText,
  unlinkStepLabel,
} from './unlink-text';

/** The unlink saga's step timeline (the disconnect dialog's look, the unlink's steps). */
export function UnlinkProgress({ saga }: { saga: TSagaView | null }) {
  return (
    <SagaStepTimeline
      saga={saga}
      label="Unlink steps"
      testId="unlink-steps"
      stepLabel={unlinkStepLabel}
      withNotes={false}
    />
  );
}

/** How the unlink ended: what was erased, or why nothing was, or where it stopped (with Resume). */
export function UnlinkResult({
  saga,
  providerName,
  vendor,
  tenant,
  onResumed,
}: {
  saga: TSagaView;
  providerName: string;
  vendor: string;
  tenant: string;
  onResumed(saga: TSagaView): void;
}) {
  const s = readUnlinkSummary(saga.result);
  if (saga.status === 'failed') {
    // Past the point of no return: the data may be gone, the link not yet. It waits for a resume.
    return (
      <div className="alert alert-error" role="alert" data-testid="unlink-result">
        <strong className="alert-title">The unlink of {providerName} stopped part-way.</strong>
        <span>
          {unlinkSagaErrorText(saga.error)}{' '}
          {s.dataErased
            ? `The synced data from ${tenant} is already erased, but ${providerName} is still linked to it.`
            : ''}{' '}
          Once the cause is fixed, resume it: it continues from that step.
        </span>
        <div className="button-row">
          <ResumeOperationButton
            sagaId={saga.id}
            label="Resume unlink"
            hiddenLabel={` of ${providerName}`}
            onResumed={onResumed}
          />
        </div>
      </div>
    );
  }
  if (saga.status !== 'completed') {
    return (
      <div className="alert alert-error" role="alert" data-testid="unlink-result">
        <strong className="alert-title">{providerName} was not unlinked.</strong>
        <span>
          {unlinkSagaErrorText(saga.error)} Nothing was erased: {providerName} is still linked to{' '}
          {tenant}.
        </span>
      </div>
    );
  }
  return (
    <p className="alert alert-info" role="status" data-testid="unlink-result">
      <strong className="alert-title">
        {providerName} is unlinked from {s.previousTenantId ?? tenant}.
      </strong>
      {s.recordsErased !== null && s.referencesErased !== null
        ? `Erased ${count(s.recordsErased, 'synced record')} and ${count(s.referencesErased, 'external reference')}. `
        : ''}
      An account of any {tenantNoun(vendor)} may connect {providerName} now.
    </p>
  );
}
