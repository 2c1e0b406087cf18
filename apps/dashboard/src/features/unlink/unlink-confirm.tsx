import type { TUnlinkPreview } from '../../trpc/router-types';
import {
  afterUnlinkText,
  erasedResourceText,
  erasesText,
  keptLabel,
  tenantLabel,
  tenantNoun,
  unlinkBlockedText,
} from './unlink-text';

/** What the unlink will do, before anything changes: the tenant, what is erased for good, what is kept. */
export function UnlinkConfirm({
  preview,
  providerName,
  descriptionId,
}: {
  preview: TUnlinkPreview;
  providerName: string;
  descriptionId: string;
}) {
  const tenant = tenantLabel(preview);
  const noun = tenantNoun(preview.vendor);
  const blocked = unlinkBlockedText(preview, providerName);
  if (!preview.tenantId)
    return (
      <p id={descriptionId} className="alert alert-info" role="status" data-testid="unlink-blocked">
        {blocked}
      </p>
    );
  const { erases } = preview;
  return (
    <>
      <p id={descriptionId} className="dialog-text" data-testid="unlink-body">
        {providerName} is linked to the {noun} <strong>{tenant}</strong>: only an account of it may
        connect. {afterUnlinkText(providerName, preview.vendor)}
      </p>
      <ul className="warning-list" aria-label="Before you unlink">
        {blocked && (
          <li className="alert alert-warning" data-testid="unlink-blocked">
            <div>
              <strong className="alert-title">{blocked}</strong>
            </div>
          </li>
        )}
        <li className="alert alert-warning" data-testid="unlink-erases">
          <div>
            <strong className="alert-title">{erasesText(erases, tenant)}</strong>
            {erases.records + erases.references > 0 && (
              <>
                <span>This cannot be undone.</span>
                <ul aria-label="Erased per resource">
                  {erases.byResource.map((r) => (
                    <li key={r.resource} data-resource={r.resource}>
                      {erasedResourceText(r)}
                    </li>
                  ))}
                </ul>
              </>
            )}
          </div>
        </li>
        <li className="alert alert-info" data-testid="unlink-keeps">
          <strong className="alert-title">Kept:</strong>
          <ul aria-label="Kept">
            {preview.keeps.map((k) => (
              <li key={k}>{keptLabel(k)}</li>
            ))}
          </ul>
        </li>
      </ul>
    </>
  );
}
