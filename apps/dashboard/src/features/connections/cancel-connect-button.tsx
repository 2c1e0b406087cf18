import { useId } from 'react';
import { useMutation } from '@tanstack/react-query';
import type { TConnectionView } from '../../trpc/router-types';
import { useTRPC } from '../../trpc/trpc-context';
import { useRefreshIntegrationData } from '../../trpc/use-refresh-integration-data';
import { ErrorAlert } from '../../ui/error-alert';

/**
 * A connection still `pending`: a connect of it has not finished. A connect takes a second or two; one that stays
 * pending was interrupted (Otesse restarted mid-way) and holds the slot until it is given up, within two minutes.
 * Cancelling frees it now; whatever the connect stored is revoked and destroyed.
 */
export function CancelConnectButton({
  connection,
  providerName,
}: {
  connection: TConnectionView;
  providerName: string;
}) {
  const trpc = useTRPC();
  const refresh = useRefreshIntegrationData();
  const hintId = useId();
  const cancel = useMutation(
    trpc.integrations.cancelConnect.mutationOptions({ onSettled: () => refresh() }),
  );
  return (
    <>
      <p id={hintId} className="muted small" data-testid="connect-unfinished">
        A connect of {providerName} has not finished. If it was interrupted, cancel it to connect
        again now; otherwise it is given up within two minutes. A connect still finishing fails when
        cancelled.
      </p>
      <div className="button-row">
        <button
          type="button"
          className="button"
          disabled={cancel.isPending}
          aria-describedby={hintId}
          onClick={() => cancel.mutate({ connectionId: connection.id })}
        >
          {cancel.isPending ? 'Cancelling…' : 'Cancel connect'}
        </button>
      </div>
      {cancel.error && <ErrorAlert error={cancel.error} />}
    </>
  );
}
