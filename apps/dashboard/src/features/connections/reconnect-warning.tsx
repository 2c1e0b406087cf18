import { useCurrentUser } from '../../session/current-user-context';
import type { TConnectionView, TIntegration } from '../../trpc/router-types';
import { ErrorAlert } from '../../ui/error-alert';
import { isHeld } from '../catalogue/integration-status';
import { useStartOAuth } from '../catalogue/use-start-oauth';

/** Expired and free: while an operation holds the connection, its card offers Resume / Show progress instead. */
const expired = (c: TConnectionView | null): c is TConnectionView =>
  c?.status === 'connected' && c.refreshTokenExpired && !isHeld(c);

/**
 * Seed 003: an expired refresh token is fixed with Reconnect (`action: 'reconnect'`), without disconnecting
 * anything. It shows what the signed-in user can act on (the edge's `refreshTokenExpired` covers exactly these):
 * the organization's connection (an admin reconnects it, anyone else asks one) and their own personal
 * connection. Another member's expired personal connection only its owner can reconnect: the admin sees it on
 * that connection, not here.
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
  const { provider, appConnection, myConnection } = integration;
  const app = expired(appConnection) ? appConnection : null;
  const mine = expired(myConnection) ? myConnection : null;
  if (!app && !mine) return null;
  const actions = [
    ...(app && me.canEdit ? [{ connection: app, label: 'Reconnect' }] : []),
    // Both at once: the personal one says whose it is, as "Disconnect my account" does.
    ...(mine
      ? [{ connection: mine, label: app && me.canEdit ? 'Reconnect my account' : 'Reconnect' }]
      : []),
  ];
  return (
    <div className={`alert alert-warning ${compact ? 'alert-compact' : ''}`} role="status">
      <div>
        <strong className="alert-title">Reconnect {provider.displayName}</strong>
        {app ? (
          <span>
            The refresh token has expired, so syncing is paused. Reconnect to authorize again; your
            settings, sync jobs and other users’ connections stay as they are.
          </span>
        ) : (
          <span>
            The refresh token of your personal connection has expired. Reconnect your account to
            authorize again; your settings and sync jobs stay as they are.
          </span>
        )}
        {app && !me.canEdit && (
          <span>
            {' '}
            Ask an admin to reconnect the organization’s connection
            {mine ? '; you can reconnect your own account' : ''}.
          </span>
        )}
      </div>
      {start.isError && <ErrorAlert error={start.error} title="Could not start the reconnect" />}
      {actions.map(({ connection, label }) => (
        <button
          key={connection.id}
          type="button"
          className="button button-warning"
          disabled={start.isPending}
          onClick={() =>
            start.mutate({ vendor: provider.key, flow: connection.level, action: 'reconnect' })
          }
        >
          {start.isPending ? 'Redirecting…' : label}
          <span className="visually-hidden"> {provider.displayName}</span>
        </button>
      ))}
    </div>
  );
}
