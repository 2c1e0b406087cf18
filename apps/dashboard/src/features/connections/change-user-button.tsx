import type { TConnectionView, TProvider } from '../../trpc/router-types';
import { ErrorAlert } from '../../ui/error-alert';
import { useStartOAuth } from '../catalogue/use-start-oauth';

/** Seed 003: switch the connected account (same tenant) without disconnecting the integration. */
export function ChangeUserButton({
  provider,
  connection,
}: {
  provider: TProvider;
  connection: TConnectionView;
}) {
  const start = useStartOAuth();
  return (
    <>
      <button
        type="button"
        className="button"
        disabled={start.isPending}
        onClick={() =>
          start.mutate({ vendor: provider.key, flow: connection.level, action: 'changeUser' })
        }
      >
        {start.isPending ? 'Redirecting…' : 'Change user'}
        <span className="visually-hidden"> for {provider.displayName}</span>
      </button>
      {start.isError && <ErrorAlert error={start.error} title="Could not change the user" />}
    </>
  );
}
