import { useEffect, useRef } from 'react';
import { useQuery } from '@tanstack/react-query';
import { AuditLogPage } from '../features/audit/audit-log-page';
import { CataloguePage } from '../features/catalogue/catalogue-page';
import { ConnectionsPage } from '../features/connections/connections-page';
import { OAuthReturnBanner } from '../features/catalogue/oauth-return-banner';
import { DisconnectDialogHost } from '../features/disconnect/disconnect-dialog-host';
import { EmailBuilderPage } from '../features/email-builder/email-builder-page';
import { OperationsPage } from '../features/operations/operations-page';
import { CurrentUserContext } from '../session/current-user-context';
import { useTRPC } from '../trpc/trpc-context';
import { ErrorAlert } from '../ui/error-alert';
import { SkipLink } from '../ui/skip-link';
import { AppHeader } from './app-header';
import { ROUTES } from './app-routes';
import { useHashRoute } from './use-hash-route';

const canViewAudit = (permissions: readonly string[]): boolean =>
  permissions.includes('settings.view') || permissions.includes('settings.edit');

export function SignedInApp() {
  const trpc = useTRPC();
  const me = useQuery(trpc.me.get.queryOptions());
  const route = useHashRoute();
  const heading = useRef<HTMLHeadingElement>(null);
  const firstRender = useRef(true);

  // An UNAUTHORIZED answer (to this or any call) signs out: SessionProvider.

  // Moving between screens moves focus to the new screen's heading, so screen readers announce it.
  useEffect(() => {
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    heading.current?.focus();
  }, [route]);

  if (me.isPending) {
    return (
      <p className="page-loading" role="status">
        Loading…
      </p>
    );
  }
  if (me.isError) {
    return (
      <main className="page">
        <ErrorAlert error={me.error} title="Could not load your account" />
        <button type="button" className="button" onClick={() => void me.refetch()}>
          Try again
        </button>
      </main>
    );
  }

  const title = ROUTES.find((r) => r.id === route)?.label ?? '';
  return (
    <CurrentUserContext value={me.data}>
      <DisconnectDialogHost>
        <SkipLink targetId="main" />
        <AppHeader route={route} />
        <main id="main" className="page" aria-labelledby="page-title" tabIndex={-1}>
          {/* Keyed by screen: the one-time OAuth result goes away once the user moves on. */}
          <OAuthReturnBanner key={route} />
          <h1 id="page-title" ref={heading} tabIndex={-1}>
            {title}
          </h1>
          {route === 'integrations' && <CataloguePage />}
          {route === 'connections' && <ConnectionsPage />}
          {route === 'audit' &&
            (canViewAudit(me.data.permissions) ? (
              <AuditLogPage />
            ) : (
              <p className="empty">The audit log needs the settings.view permission.</p>
            ))}
          {route === 'operations' && <OperationsPage />}
          {route === 'email-builder' && <EmailBuilderPage />}
        </main>
      </DisconnectDialogHost>
    </CurrentUserContext>
  );
}
