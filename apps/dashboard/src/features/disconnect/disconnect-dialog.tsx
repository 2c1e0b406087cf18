import { useEffect, useId, useRef, useState } from 'react';
import { skipToken, useMutation, useQuery } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import type { TSagaView } from '../../trpc/router-types';
import { FINAL_ERRORS, trpcCode } from '../../trpc/query-client';
import { useTRPC } from '../../trpc/trpc-context';
import { ErrorAlert } from '../../ui/error-alert';
import { ModalDialog } from '../../ui/modal-dialog';
import { useOperationPhase } from '../operations/use-operation-phase';
import { DisconnectConfirm } from './disconnect-confirm';
import { DisconnectProgress } from './disconnect-progress';
import { DisconnectResult } from './disconnect-result';
import { disconnectDialogTitle, disconnectEndedAnnouncement, isTerminal } from './disconnect-steps';

/**
 * Seed 000 as a person sees it: confirm (with the preview's counts and warnings), then the saga's steps live over
 * SSE, then the result. Closing early is safe: the saga runs on the server regardless.
 */
export function DisconnectDialog({
  connectionId,
  providerName,
  sagaId: existingSagaId,
  onClose,
}: {
  connectionId: string;
  providerName: string;
  /** A saga already started (the card's "Show progress"): its steps, no confirmation. */
  sagaId?: string;
  onClose(): void;
}) {
  const trpc = useTRPC();
  const titleId = useId();
  const descriptionId = useId();
  const cancelRef = useRef<HTMLButtonElement>(null);
  const [sagaId, setSagaId] = useState<string | null>(existingSagaId ?? null);
  const [saga, setSaga] = useState<TSagaView | null>(null);

  const preview = useQuery(
    trpc.disconnect.preview.queryOptions(existingSagaId ? skipToken : { connectionId }, {
      staleTime: 0,
      gcTime: 0,
    }),
  );
  // An existing saga that already ended (stopped, say) streams nothing: read it once, afresh each time the dialog
  // opens — a view cached by an earlier "Show steps" would show a disconnect resumed since as still stopped.
  const existing = useQuery(
    trpc.disconnect.status.queryOptions(
      existingSagaId && !saga ? { sagaId: existingSagaId } : skipToken,
      { staleTime: 0, gcTime: 0 },
    ),
  );
  useEffect(() => {
    if (existing.data && !saga) setSaga(existing.data);
  }, [existing.data, saga]);
  const start = useMutation(
    trpc.disconnect.start.mutationOptions({
      onSuccess: (r) => {
        setSaga(r.saga);
        setSagaId(r.sagaId);
      },
    }),
  );
  const done = isTerminal(saga);
  const progress = useSubscription(
    trpc.disconnect.progress.subscriptionOptions(sagaId && !done ? { sagaId } : skipToken, {
      onData: (view) => setSaga(view),
    }),
  );
  // If the live stream breaks (proxy, network), fall back to polling the durable status.
  const polled = useQuery(
    trpc.disconnect.status.queryOptions(
      sagaId && !done && progress.status === 'error' ? { sagaId } : skipToken,
      // Same key as the read above: kept no longer than the dialog either. An answer that asking again will not
      // change (not found, not allowed) stops the polling.
      {
        refetchInterval: (q) => (FINAL_ERRORS.has(trpcCode(q.state.error) ?? '') ? false : 1000),
        gcTime: 0,
      },
    ),
  );
  useEffect(() => {
    if (polled.data) setSaga(polled.data);
  }, [polled.data]);

  const { phase, progressRef, closeRef, close } = useOperationPhase({ sagaId, done, onClose });
  // The operation could not be read (its first read, or the polling that stands in for a broken stream).
  const readError =
    (saga ? null : existing.error) ?? (progress.status === 'error' ? polled.error : null);

  const name = preview.data?.provider.displayName ?? providerName;
  // The seed's question while confirming; then what is happening, then how it ended.
  const title =
    phase === 'confirm'
      ? (preview.data?.texts.title ?? disconnectDialogTitle(name, null, false))
      : disconnectDialogTitle(name, saga, true);
  return (
    <ModalDialog
      titleId={titleId}
      descriptionId={descriptionId}
      onClose={close}
      initialFocus={cancelRef}
      className="disconnect-dialog"
    >
      <h2 id={titleId} className="modal-title">
        {title}
      </h2>

      {phase === 'confirm' && (
        <>
          {preview.isPending && (
            <p id={descriptionId} className="muted" role="status">
              Checking what this affects…
            </p>
          )}
          {preview.isError && (
            <ErrorAlert
              error={preview.error}
              title="Could not prepare the disconnect"
              message="Disconnect stays unavailable until we can show what it affects. Nothing was changed: close this and try again in a moment."
            />
          )}
          {preview.data && (
            <DisconnectConfirm preview={preview.data} descriptionId={descriptionId} />
          )}
          {start.isError && <ErrorAlert error={start.error} title="Disconnect failed" />}
          <div className="modal-actions">
            <button ref={cancelRef} type="button" className="button" onClick={close}>
              Cancel
            </button>
            <button
              type="button"
              className="button button-danger"
              disabled={!preview.data?.canDisconnect || start.isPending}
              onClick={() => start.mutate({ connectionId, confirm: true, waitMs: 0 })}
            >
              {start.isPending ? 'Starting…' : 'Disconnect'}
            </button>
          </div>
        </>
      )}

      {phase !== 'confirm' && (
        <div ref={progressRef} tabIndex={-1} className="stack" id={descriptionId}>
          <p className="visually-hidden" role="status">
            {phase === 'running'
              ? `Disconnecting ${name}…`
              : disconnectEndedAnnouncement(name, saga)}
          </p>
          {readError && !done && (
            <ErrorAlert
              error={readError}
              title="Could not read this disconnect’s progress"
              message={
                FINAL_ERRORS.has(trpcCode(readError) ?? '')
                  ? undefined
                  : 'Trying again. The disconnect itself goes on on the server; closing this does not stop it.'
              }
            />
          )}
          <DisconnectProgress saga={saga} />
          {phase === 'done' && saga && (
            <DisconnectResult saga={saga} providerName={name} onResumed={setSaga} />
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
