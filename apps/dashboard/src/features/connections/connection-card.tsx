import { useId } from 'react';
import { useCurrentUser } from '../../session/current-user-context';
import type { TIntegration } from '../../trpc/router-types';
import { formatRelative } from '../../ui/format-date';
import { ProviderLogo } from '../../ui/provider-logo';
import { StatusBadge } from '../../ui/status-badge';
import { healthTone, integrationStatus, liveConnections } from '../catalogue/integration-status';
import { ConnectionDetails } from './connection-details';
import { MoreMemberConnections } from './more-member-connections';
import { ReconnectWarning } from './reconnect-warning';
import { SyncJobsPanel } from './sync-jobs-panel';
import { WebhookPanel } from './webhook-panel';

export function ConnectionCard({ integration }: { integration: TIntegration }) {
  const titleId = useId();
  const me = useCurrentUser();
  const { provider, instance } = integration;
  const status = integrationStatus(integration, me.userId);
  const connections = liveConnections(integration);
  const others = integration.otherConnections;
  // Revoked by a disconnect that has not finished (stopped after the statuses, or still running): shown with it.
  const unfinished = integration.unfinishedConnections;
  if (!instance) return null;
  return (
    <article className="card connection-card" aria-labelledby={titleId} data-vendor={provider.key}>
      <div className="provider-card-head">
        <ProviderLogo vendor={provider.key} name={provider.displayName} />
        <div className="provider-card-title">
          <h3 id={titleId}>{provider.displayName}</h3>
          <p className="muted small">
            {/* Pending from its first connect (or subdomain) on until a connection is live; with none
                unfinished, nothing is connected yet (that connect failed or was cancelled). */}
            Instance{' '}
            {instance.status === 'pending' && connections.length === 0 && others.length === 0
              ? 'not connected yet'
              : instance.status}
            {instance.subdomain ? ` · ${instance.subdomain}` : ''}
            {instance.site ? ` · site ${instance.site.name ?? instance.site.id}` : ''}
            {instance.tenant && !instance.subdomain && !instance.site
              ? ` · linked to ${instance.tenant}`
              : ''}
          </p>
        </div>
        <StatusBadge tone={status.tone}>{status.label}</StatusBadge>
      </div>
      <dl className="facts facts-inline">
        <div>
          <dt>Health</dt>
          <dd>
            <StatusBadge tone={healthTone(instance.health)}>{instance.health}</StatusBadge>
            <span className="muted small"> checked {formatRelative(instance.healthCheckedAt)}</span>
          </dd>
        </div>
        <div>
          <dt>Users connected with their own account</dt>
          <dd>{integration.userConnections}</dd>
        </div>
      </dl>
      {integration.refreshTokenExpired && <ReconnectWarning integration={integration} />}
      {connections.length === 0 && others.length === 0 && unfinished.length === 0 ? (
        integration.integrated && integration.userConnections > 0 ? (
          // Connected by other members with their own accounts (whose connections only an admin's list carries).
          <p className="muted">
            You have not connected your own account:{' '}
            <a href="#/integrations">connect it from All Integrations</a>.
          </p>
        ) : (
          <p className="muted">
            Not connected. Its settings, sync jobs and field mappings are kept:{' '}
            <a href="#/integrations">connect it again from All Integrations</a>.
          </p>
        )
      ) : (
        connections.map((c) => (
          <ConnectionDetails key={c.id} integration={integration} connection={c} />
        ))
      )}
      {/* Only an admin's list has them (the edge sends them to settings.edit only): disconnect on a member's behalf. */}
      {others.map((c) => (
        <ConnectionDetails key={c.id} integration={integration} connection={c} />
      ))}
      <MoreMemberConnections integration={integration} />
      {unfinished.map((c) => (
        <ConnectionDetails key={c.id} integration={integration} connection={c} />
      ))}
      {integration.unfinishedConnectionsHidden > 0 && (
        <p className="muted small" data-testid="unfinished-hidden">
          {integration.unfinishedConnectionsHidden} more{' '}
          {integration.unfinishedConnectionsHidden === 1
            ? 'connection has an operation'
            : 'connections have operations'}{' '}
          not finished: <a href="#/operations">see Operations</a>.
        </p>
      )}
      <SyncJobsPanel integration={integration} />
      <WebhookPanel integration={integration} />
    </article>
  );
}
