import { useCurrentUser } from '../../session/current-user-context';
import type { TConnectionView, TIntegration } from '../../trpc/router-types';
import { formatDateTime } from '../../ui/format-date';
import { StatusBadge } from '../../ui/status-badge';
import { canManage, connectionStatusTone } from '../catalogue/integration-status';
import { DisconnectButton } from '../disconnect/disconnect-button';
import { ChangeUserButton } from './change-user-button';

/** One connection: who connected it, to which external account, its state, and what can be done with it. */
export function ConnectionDetails({
  integration,
  connection: c,
}: {
  integration: TIntegration;
  connection: TConnectionView;
}) {
  const me = useCurrentUser();
  const { provider } = integration;
  const mine = c.userId === me.userId;
  const manageable = canManage(c, me);
  const canChangeUser =
    manageable &&
    c.status === 'connected' &&
    provider.authKind === 'oauth2' &&
    provider.supportsReconnect &&
    !c.refreshTokenExpired;
  return (
    <div className="connection" data-connection-id={c.id} data-level={c.level}>
      <div className="connection-head">
        <h4>{c.level === 'app' ? 'Organization connection' : 'Your personal connection'}</h4>
        <StatusBadge tone={connectionStatusTone(c.status)}>{c.status}</StatusBadge>
        {c.refreshTokenExpired && <StatusBadge tone="warning">Refresh token expired</StatusBadge>}
      </div>
      <dl className="facts">
        <div>
          <dt>Connected by</dt>
          <dd title={c.userId}>{mine ? `You (${me.email})` : `User ${c.userId.slice(0, 8)}`}</dd>
        </div>
        {(c.accountLabel ?? c.externalAccountId) && (
          <div>
            <dt>External account</dt>
            <dd>
              {c.accountLabel ?? c.externalAccountId}
              {c.accountLabel && c.externalAccountId && (
                <span className="muted"> ({c.externalAccountId})</span>
              )}
            </dd>
          </div>
        )}
        {c.tenantId && (
          <div>
            <dt>Tenant</dt>
            <dd>{c.tenantId}</dd>
          </div>
        )}
        {c.senderEmails.length > 0 && (
          <div>
            <dt>Sender emails</dt>
            <dd>{c.senderEmails.join(', ')}</dd>
          </div>
        )}
        <div>
          <dt>Connected</dt>
          <dd>{formatDateTime(c.connectedAt)}</dd>
        </div>
      </dl>
      {manageable && c.status === 'connected' && (
        <div className="button-row">
          {canChangeUser && <ChangeUserButton provider={provider} connection={c} />}
          <DisconnectButton connection={c} providerName={provider.displayName} />
        </div>
      )}
    </div>
  );
}
