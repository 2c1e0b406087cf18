import { useId, useState } from 'react';
import type { TIntegration, TProvider } from '../../trpc/router-types';
import { ProviderLogo } from '../../ui/provider-logo';
import { StatusBadge } from '../../ui/status-badge';
import { ReconnectWarning } from '../connections/reconnect-warning';
import { DisconnectButton } from '../disconnect/disconnect-button';
import { UnlinkDialog } from '../unlink/unlink-dialog';
import { CATEGORY_LABELS } from './category-labels';
import { CatalogueOperationNote } from './catalogue-operation-note';
import { ConnectPanel } from './connect-panel';
import { useCurrentUser } from '../../session/current-user-context';
import {
  canManage,
  canOfferUnlink,
  connectionSummary,
  instanceLine,
  integrationStatus,
  isHeld,
  liveConnections,
  unfinishedConnects,
} from './integration-status';

export function ProviderCard({
  provider,
  integration,
  statusUnknown = false,
}: {
  provider: TProvider;
  integration: TIntegration | undefined;
  /** The integrations' status could not be read: the card says so rather than "Not connected". */
  statusUnknown?: boolean;
}) {
  const titleId = useId();
  const me = useCurrentUser();
  const [unlinkOpen, setUnlinkOpen] = useState(false);
  const status =
    statusUnknown && !integration
      ? ({ tone: 'neutral', label: 'Status unknown' } as const)
      : integrationStatus(integration, me.userId);
  const connected = integration
    ? liveConnections(integration).filter((c) => c.status === 'connected')
    : [];
  // Which instance the connections are on (ServiceNow's, Zendesk's subdomain; an Atlassian site), once connected;
  // else the provider organization the instance is pinned to (only an account of it may connect).
  const instanceLabel = instanceLine(
    integration?.instance ?? null,
    provider.subdomainLabel,
    connected.length,
  );
  // An admin may unlink a pinned instance nobody is connected to (the wrong company was connected).
  const unlinkable =
    !!integration && instanceLabel?.label === 'Linked to' && canOfferUnlink(integration, me);
  return (
    <article className="card provider-card" aria-labelledby={titleId} data-vendor={provider.key}>
      <div className="provider-card-head">
        <ProviderLogo vendor={provider.key} name={provider.displayName} />
        <div className="provider-card-title">
          <h3 id={titleId}>{provider.displayName}</h3>
          <p className="muted small">
            {CATEGORY_LABELS[provider.category]} ·{' '}
            {provider.authKind === 'oauth2' ? 'OAuth 2.0' : 'API key'}
          </p>
        </div>
        <StatusBadge tone={status.tone}>{status.label}</StatusBadge>
      </div>
      {provider.description && <p className="provider-description">{provider.description}</p>}
      {(connected.length > 0 || instanceLabel) && (
        <dl className="connected-as">
          {instanceLabel && (
            <div>
              <dt>{instanceLabel.label}:</dt>
              <dd>
                {instanceLabel.value}
                {unlinkable && (
                  <button
                    type="button"
                    className="button button-quiet button-small button-inline"
                    aria-haspopup="dialog"
                    // Several cards may offer one: the name says which provider and which tenant.
                    aria-label={`Unlink ${provider.displayName} from ${instanceLabel.value}…`}
                    onClick={() => setUnlinkOpen(true)}
                  >
                    Unlink…
                  </button>
                )}
              </dd>
            </div>
          )}
          {connected.map((c) => {
            const { label, value, whose } = connectionSummary(c);
            return (
              <div key={c.id} data-level={c.level}>
                <dt>{label}:</dt>
                <dd>
                  <strong>{value}</strong> <span className="muted small">({whose})</span>
                </dd>
              </div>
            );
          })}
        </dl>
      )}
      {integration && <CatalogueOperationNote integration={integration} />}
      {integration && unfinishedConnects(integration).some((c) => canManage(c, me)) && (
        // No Connect meanwhile (the slot is held): say where the unfinished one can be cancelled.
        <p className="muted small" data-testid="connect-unfinished-note">
          A connect has not finished. If it was interrupted, cancel it on the{' '}
          <a href="#/connections">Connections page</a> to connect again now.
        </p>
      )}
      {integration?.refreshTokenExpired && <ReconnectWarning integration={integration} compact />}
      {integration && (
        <div className="provider-actions">
          <ConnectPanel integration={integration} />
          {/* Not while an operation holds the connection: the note above says how to follow or resume it. */}
          {connected
            .filter((c) => canManage(c, me) && !isHeld(c))
            .map((c) => (
              <DisconnectButton
                key={c.id}
                connection={c}
                providerName={provider.displayName}
                variant={c.level === 'user' && connected.length > 1 ? 'mine' : 'default'}
              />
            ))}
        </div>
      )}
      {/* Hosted by the card, not the button: the button goes once the unlink is done, the dialog stays. */}
      {unlinkOpen && (
        <UnlinkDialog
          vendor={provider.key}
          providerName={provider.displayName}
          tenant={instanceLabel?.value ?? ''}
          onClose={() => setUnlinkOpen(false)}
        />
      )}
    </article>
  );
}
