import { useId } from 'react';
import { useCurrentUser } from '../../session/current-user-context';
import type { TConnectionView, TIntegration } from '../../trpc/router-types';
import { formatDateTime } from '../../ui/format-date';
import { personLabel } from '../../ui/person';
import { StatusBadge } from '../../ui/status-badge';
import { canManage, connectionStatusTone, isHeld } from '../catalogue/integration-status';
import { DisconnectButton } from '../disconnect/disconnect-button';
import { ConnectionOperation } from '../operations/connection-operation';
import { CancelConnectButton } from './cancel-connect-button';
import { ChangeUserButton, ChangeUserHint } from './change-user-button';

/**
 * One connection: who connected it, to which external account, its state, and what can be done with it. Another
 * member's personal connection (only an admin's list has them) can be disconnected on their behalf, but only its
 * owner can reconnect it or change its user (both authorize their own account).
 */
export function ConnectionDetails({
  integration,
  connection: c,
}: {
  integration: TIntegration;
  connection: TConnectionView;
}) {
  const me = useCurrentUser();
  const hintId = useId();
  const { provider } = integration;
  const mine = c.userId === me.userId;
  const othersPersonal = c.level === 'user' && !mine;
  const ownerName = personLabel(c.userId, c.connectedBy, me);
  const manageable = canManage(c, me);
  // An operation (running, or stopped past its point of no return) holds the connection: it is resumed or followed
  // from its alert below; Change user and Disconnect come back once it has finished.
  const held = isHeld(c);
  // Offered with an expired refresh token too: the connected user having left is the usual reason to change it.
  const canChangeUser =
    manageable &&
    !held &&
    !othersPersonal &&
    c.status === 'connected' &&
    provider.authKind === 'oauth2' &&
    provider.supportsReconnect;
  return (
    <div className="connection" data-connection-id={c.id} data-level={c.level}>
      <div className="connection-head">
        <h4>
          {c.level === 'app'
            ? 'Organization connection'
            : mine
              ? 'Your personal connection'
              : `Personal connection of ${ownerName}`}
        </h4>
        <StatusBadge tone={connectionStatusTone(c.status)}>{c.status}</StatusBadge>
        {c.refreshTokenExpired && (
          <StatusBadge tone="warning">
            {othersPersonal ? 'Needs its owner to reconnect' : 'Refresh token expired'}
          </StatusBadge>
        )}
      </div>
      {c.status === 'revoked' && c.operation && (
        <p className="muted small" data-testid="revoked-unfinished">
          Already disconnected, but the disconnect has not finished its last steps: follow or resume
          it below. It can be connected again once it has finished.
        </p>
      )}
      {c.refreshTokenExpired && othersPersonal && (
        <p className="muted small">
          Its refresh token has expired. Only {ownerName} can reconnect it: reconnecting authorizes
          their own account.
        </p>
      )}
      <dl className="facts">
        <div>
          <dt>{c.status === 'pending' ? 'Started by' : 'Connected by'}</dt>
          <dd title={c.userId}>{personLabel(c.userId, c.connectedBy, me, { withEmail: true })}</dd>
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
            <dt>{c.siteName ? 'Site' : 'Tenant'}</dt>
            <dd>
              {c.siteName ?? c.tenantId}
              {c.siteName && c.siteName !== c.tenantId && (
                <span className="muted"> ({c.tenantId})</span>
              )}
            </dd>
          </div>
        )}
        {c.senderEmails.length > 0 && (
          <div>
            <dt>Sender emails</dt>
            <dd>{c.senderEmails.join(', ')}</dd>
          </div>
        )}
        {c.status === 'pending' ? (
          <div>
            <dt>Started</dt>
            <dd>{formatDateTime(c.startedAt)}</dd>
          </div>
        ) : (
          <div>
            <dt>Connected</dt>
            <dd>{formatDateTime(c.connectedAt)}</dd>
          </div>
        )}
      </dl>
      <ConnectionOperation
        connection={c}
        providerName={provider.displayName}
        canResume={manageable || c.operation?.actorUserId === me.userId}
      />
      {manageable && c.status === 'pending' && (
        <CancelConnectButton connection={c} providerName={provider.displayName} />
      )}
      {manageable && c.status === 'connected' && !held && (
        <>
          <div className="button-row">
            {canChangeUser && (
              <ChangeUserButton provider={provider} connection={c} hintId={hintId} />
            )}
            <DisconnectButton
              connection={c}
              providerName={provider.displayName}
              {...(othersPersonal ? { ownerName } : {})}
            />
          </div>
          {canChangeUser && <ChangeUserHint id={hintId} provider={provider} connection={c} />}
        </>
      )}
    </div>
  );
}
