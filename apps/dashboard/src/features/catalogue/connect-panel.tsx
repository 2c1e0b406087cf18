import { useEffect, useId, useRef, useState } from 'react';
import { useCurrentUser } from '../../session/current-user-context';
import type { TIntegration } from '../../trpc/router-types';
import { ApiKeyConnectForm } from './api-key-connect-form';
import { OAuthConnectForm } from './oauth-connect-form';
import { ownOperations } from './integration-status';

/**
 * The Connect action of a catalogue card. It is offered whenever the matching connection is missing, so it
 * reappears after a disconnect: admins connect the organization (app level), everyone else their own account.
 */
export function ConnectPanel({ integration }: { integration: TIntegration }) {
  const me = useCurrentUser();
  const { provider } = integration;
  const [open, setOpen] = useState(false);
  const toggle = useRef<HTMLButtonElement>(null);
  const wasOpen = useRef(false);
  const formId = useId();

  useEffect(() => {
    // Closing the API-key form hands focus back to the button that opened it.
    if (wasOpen.current && !open) toggle.current?.focus();
    wasOpen.current = open;
  }, [open]);

  // A disconnect that revoked the connection but has not finished (or any other open operation) holds it: the edge
  // refuses a new connect until it ends, so none is offered; the card's note says how to follow or resume it.
  const held = ownOperations(integration, me.userId).map((o) => o.connection.level);
  const offersApp = provider.flows.includes('app');
  const appFlow = offersApp && me.canEdit && !integration.appConnection && !held.includes('app');
  // Admins manage the organization's connection; personal connections are for everyone else (or user-only apps).
  const userFlow =
    provider.flows.includes('user') &&
    !integration.myConnection &&
    !held.includes('user') &&
    (!me.canEdit || !offersApp);
  if (!appFlow && !userFlow) return null;

  if (provider.authKind === 'apiKey') {
    if (!appFlow) return null;
    return open ? (
      <div id={formId} className="connect-panel">
        <ApiKeyConnectForm
          provider={provider}
          onCancel={() => setOpen(false)}
          onConnected={() => setOpen(false)}
        />
      </div>
    ) : (
      <button
        ref={toggle}
        type="button"
        className="button button-primary"
        aria-expanded={false}
        aria-controls={formId}
        onClick={() => setOpen(true)}
      >
        Connect<span className="visually-hidden"> {provider.displayName}</span>
      </button>
    );
  }
  return <OAuthConnectForm integration={integration} flow={appFlow ? 'app' : 'user'} />;
}
