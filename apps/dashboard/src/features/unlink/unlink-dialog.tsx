import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { skipToken, useMutation, useQuery } from '@tanstack/react-query';
import type { TSagaView } from '../../trpc/router-types';
import { FINAL_ERRORS, trpcCode, trpcReason } from '../../trpc/query-client';
import { useTRPC } from '../../trpc/trpc-context';
import { ErrorAlert } from '../../ui/error-alert';
import { ModalDialog } from '../../ui/modal-dialog';
import { useOperationPhase } from '../operations/use-operation-phase';
import { isTerminal } from '../disconnect/disconnect-steps';
import { UnlinkConfirm } from './unlink-confirm';
import { UnlinkProgress, UnlinkResult } from './unlink-progress';
import {
  confirmMatches,
  tenantLabel,
  unlinkDialogTitle,
  unlinkEndedAnnouncement,
  unlinkRefusalText,
} from './unlink-text';

/** A refusal in words, and that nothing was erased; anything else as the server said it. */
function refusalMessage(error: unknown): string | undefined {
  const text = unlinkRefusalText(trpcCode(error), trpcReason(error));
  return text ? `${text} Nothing was erased.` : undefined;
}

/**
 * Unlinking the org's instance of a vendor from its tenant, as an admin meets it: what is erased and kept (the
 * preview), the tenant typed to confirm, then the saga's steps (polled) and how it ended. Closing early is safe: the
 * saga runs on the server regardless.
 */
export function UnlinkDialog({
  vendor,
  providerName,
  tenant: cardTenant,
  onClose,
}: {
  vendor: string;
  providerName: string;
  /** The tenant as the card names it, for the title until the preview is read. */
  tenant: string;
  onClose(): void;
}) {
  const trpc = useTRPC();
  const titleId = useId();
  const descriptionId = useId();
  const fieldId = useId();
  const hintId = useId();
  const cancelRef = useRef<HTMLButtonElement>(null);
  const [typed, setTyped] = useState('');
  const [sagaId, setSagaId] = useState<string | null>(null);
  const [saga, setSaga] = useState<TSagaView | null>(null);
  const [joined, setJoined] = useState(false);
  // The tenant confirmed: the texts still name it once the pin is gone (the preview is read again then).
  const [confirmed, setConfirmed] = useState<string | null>(null);

  const preview = useQuery(
    trpc.integrations.unlinkTenantPreview.queryOptions({ vendor }, { staleTime: 0, gcTime: 0 }),
  );
  const start = useMutation(
    trpc.integrations.unlinkTenant.mutationOptions({
      onSuccess: (r) => {
        setSaga(r.saga);
        setSagaId(r.sagaId);
        setJoined(r.joined);
      },
      // Refused (someone connected, the pin changed): the preview says what holds it now.
      onError: () => void preview.refetch(),
    }),
  );
  const done = isTerminal(saga);
  // Followed by polling its durable status (any saga id), as long as it runs.
  const polled = useQuery(
    trpc.disconnect.status.queryOptions(sagaId && !done ? { sagaId } : skipToken, {
      refetchInterval: (q) => (FINAL_ERRORS.has(trpcCode(q.state.error) ?? '') ? false : 500),
      gcTime: 0,
    }),
  );
  useEffect(() => {
    if (polled.data) setSaga(polled.data);
  }, [polled.data]);

  const { phase, progressRef, closeRef, close } = useOperationPhase({ sagaId, done, onClose });

  const p = preview.data;
  const tenant = confirmed ?? (p?.tenantId ? tenantLabel(p) : cardTenant);
  const matches = confirmMatches(typed, p?.tenantId ?? null);
  const canConfirm = !!p?.canUnlink && matches && !start.isPending;
  const submit = (e: FormEvent<HTMLFormElement>): void => {
    e.preventDefault();
    if (!canConfirm || !p?.tenantId) return;
    setConfirmed(tenantLabel(p));
    start.mutate({ vendor, confirmTenantId: p.tenantId, waitMs: 0 });
  };
  const title =
    phase === 'confirm'
      ? unlinkDialogTitle(providerName, tenant, null, false)
      : unlinkDialogTitle(providerName, tenant, saga, true);
  return (
    <ModalDialog
      titleId={titleId}
      descriptionId={descriptionId}
      onClose={close}
      initialFocus={cancelRef}
      className="unlink-dialog"
    >
      <h2 id={titleId} className="modal-title">
        {title}
      </h2>

      {phase === 'confirm' && (
        <form className="stack" onSubmit={submit} noValidate>
          {preview.isPending && (
            <p id={descriptionId} className="muted" role="status">
              Checking what this erases…
            </p>
          )}
          {preview.isError && (
            <ErrorAlert
              error={preview.error}
              title="Could not prepare the unlink"
              message={
                refusalMessage(preview.error) ??
                'Unlink stays unavailable until we can show what it erases. Nothing was changed: close this and try again in a moment.'
              }
            />
          )}
          {p && (
            <UnlinkConfirm preview={p} providerName={providerName} descriptionId={descriptionId} />
          )}
          {p?.canUnlink && p.tenantId && (
            <div className="field confirm-field">
              <label htmlFor={fieldId}>
                Type <code>{p.tenantId}</code> to confirm
              </label>
              <input
                id={fieldId}
                name="confirmTenantId"
                value={typed}
                onChange={(e) => setTyped(e.target.value)}
                autoComplete="off"
                autoCapitalize="off"
                spellCheck={false}
                aria-describedby={hintId}
              />
              <p id={hintId} className="field-hint">
                Exactly as shown: Unlink is enabled once it matches.
              </p>
            </div>
          )}
          {start.isError && (
            <ErrorAlert
              error={start.error}
              title="Unlink failed"
              message={refusalMessage(start.error)}
            />
          )}
          <div className="modal-actions">
            <button ref={cancelRef} type="button" className="button" onClick={close}>
              Cancel
            </button>
            <button type="submit" className="button button-danger" disabled={!canConfirm}>
              {start.isPending ? 'Starting…' : 'Unlink and erase data'}
            </button>
          </div>
        </form>
      )}

      {phase !== 'confirm' && (
        <div ref={progressRef} tabIndex={-1} className="stack" id={descriptionId}>
          <p className="visually-hidden" role="status">
            {phase === 'running'
              ? `Unlinking ${providerName}…`
              : unlinkEndedAnnouncement(providerName, saga)}
          </p>
          {joined && (
            <p className="muted small">
              An unlink of {providerName} was already under way: this shows its progress.
            </p>
          )}
          {polled.error && !done && (
            <ErrorAlert
              error={polled.error}
              title="Could not read this unlink’s progress"
              message={
                FINAL_ERRORS.has(trpcCode(polled.error) ?? '')
                  ? undefined
                  : 'Trying again. The unlink itself goes on on the server; closing this does not stop it.'
              }
            />
          )}
          <UnlinkProgress saga={saga} />
          {phase === 'done' && saga && (
            <UnlinkResult
              saga={saga}
              providerName={providerName}
              vendor={vendor}
              tenant={tenant}
              onResumed={setSaga}
            />
          )}
        </div>
      )}

      {phase !== 'confirm' && (
        <div className="modal-actions">
          <button ref={closeRef} type="button" className="button button-primary" onClick={close}>
            {phase === 'done' ? 'Close' : 'Close (continues in the background)'}
          </button>
        </div>
      )}
    </ModalDialog>
  );
}
