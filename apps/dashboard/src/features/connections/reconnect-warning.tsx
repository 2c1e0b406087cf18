import { useCurrentUser } from '../../session/current-user-context';
import type { TIntegration } from '../../trpc/router-types';
import { ErrorAlert } from '../../ui/error-alert';
import { useStartOAuth } from '../catalogue/use-start-oauth';

/**
 * Seed 003: when `refreshTokenExpired` is set the integration is fixed at the app level with Reconnect
 * (`action: 'reconnect'`), without disconnecting anything.
 */
export function ReconnectWarning({
  integration,
  compact = false,
}: {
  integration: TIntegration;
  compact?: boolean;
}) {
  const me = useCurrentUser();
  const start = useStartOAuth();
  const { provider } = integration;
  const expired = [integration.appConnection, integration.myConnection].find(
    (c) => c?.refreshTokenExpired,
  );
  const canReconnect = expired
    ? expired.level === 'app'
      ? me.canEdit
      : expired.userId === me.userId
    : false;
  return (
    <div className={`alert alert-warning ${compact ? 'alert-compact' : ''}`} role="alert">
      <div>
        <strong className="alert-title">Reconnect {provider.displayName}</strong>
        <span>
          The refresh token has expired, so syncing is paused. Reconnect to authorize again; your
          settings, sync jobs and other users’ connections stay as they are.
        </span>
        {!canReconnect && <span> Ask an admin to reconnect.</span>}
      </div>
      {start.isError && <ErrorAlert error={start.error} title="Could not start the reconnect" />}
      {expired && canReconnect && (
        <button
          type="button"
          className="button button-warning"
          disabled={start.isPending}
          onClick={() =>
            start.mutate({ vendor: provider.key, flow: expired.level, action: 'reconnect' })
          }
        >
          {start.isPending ? 'Redirecting…' : 'Reconnect'}
          <span className="visually-hidden"> {provider.displayName}</span>
        </button>
      )}
    </div>
  );
}
