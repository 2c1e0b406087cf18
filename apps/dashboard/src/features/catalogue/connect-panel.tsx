import { useEffect, useId, useRef, useState } from 'react';
import { useCurrentUser } from '../../session/current-user-context';
import type { TIntegration } from '../../trpc/router-types';
import { ApiKeyConnectForm } from './api-key-connect-form';
import { OAuthConnectForm } from './oauth-connect-form';

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

  const offersApp = provider.flows.includes('app');
  const appFlow = offersApp && me.canEdit && !integration.appConnection;
  // Admins manage the organization's connection; personal connections are for everyone else (or user-only apps).
  const userFlow =
    provider.flows.includes('user') && !integration.myConnection && (!me.canEdit || !offersApp);
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
