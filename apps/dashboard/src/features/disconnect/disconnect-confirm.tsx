import type { TDisconnectPreview } from '../../trpc/router-types';
import { cannotDisconnectText } from './disconnect-steps';

/** Step 1 of the seed: what the disconnect will do, before anything changes. */
export function DisconnectConfirm({
  preview,
  descriptionId,
}: {
  preview: TDisconnectPreview;
  descriptionId: string;
}) {
  const { texts } = preview;
  // Nothing to disconnect (already disconnected, or a disconnect under way): why, without the warnings of a
  // disconnect that will not happen.
  if (!preview.canDisconnect)
    return (
      <p
        id={descriptionId}
        className="alert alert-info"
        role="status"
        data-testid="cannot-disconnect"
      >
        {cannotDisconnectText(preview.connection.status)}
      </p>
    );
  return (
    <>
      <p id={descriptionId} className="dialog-text" data-testid="disconnect-body">
        {texts.body}
      </p>
      <ul className="warning-list" aria-label="Before you disconnect">
        {texts.jobsWarning && (
          <li className="alert alert-warning" data-testid="jobs-warning">
            <div>
              <strong className="alert-title">{texts.jobsWarning}</strong>
              {preview.runningExecutions > 0 && (
                <span>
                  {preview.runningExecutions} running sync
                  {preview.runningExecutions === 1 ? '' : 's'} will be cancelled; records already
                  synced are kept.
                </span>
              )}
            </div>
          </li>
        )}
        {texts.dependentWarnings.map((w, i) => (
          <li key={w} className="alert alert-warning" data-testid="dependent-warning">
            <div>
              <strong className="alert-title">{w}</strong>
              {preview.dependents[i]?.effect && <span>{preview.dependents[i]?.effect}</span>}
            </div>
          </li>
        ))}
        <li className="alert alert-info" data-testid="instance-note">
          {texts.instanceNote}
        </li>
        {!preview.revocation.supported && preview.revocation.note && (
          <li className="alert alert-info">{preview.revocation.note}</li>
        )}
        {!preview.isOwner && (
          <li className="alert alert-info">
            {preview.owner
              ? `This is ${preview.owner.name}'s personal connection.`
              : 'This connection was made by another user.'}{' '}
            The audit log records you as the one who disconnected it.
          </li>
        )}
      </ul>
    </>
  );
}
