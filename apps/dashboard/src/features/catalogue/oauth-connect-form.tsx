import { useId, useState, type FormEvent } from 'react';
import { useCurrentUser } from '../../session/current-user-context';
import type { TIntegration } from '../../trpc/router-types';
import { ErrorAlert } from '../../ui/error-alert';
import { useStartOAuth } from './use-start-oauth';

const SUBDOMAIN = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;

/** Connect over OAuth; providers on a per-customer host (ServiceNow, Zendesk) ask for the subdomain first. */
export function OAuthConnectForm({
  integration,
  flow,
}: {
  integration: TIntegration;
  flow: 'app' | 'user';
}) {
  const { provider, instance } = integration;
  const me = useCurrentUser();
  const start = useStartOAuth();
  const [subdomain, setSubdomain] = useState(instance?.subdomain ?? '');
  const [invalid, setInvalid] = useState(false);
  const inputId = useId();
  const hintId = useId();
  const errorId = useId();
  const editableSubdomain = provider.needsSubdomain && me.canEdit;
  const label = flow === 'app' ? 'Connect' : 'Connect my account';

  if (provider.needsSubdomain && !me.canEdit && !instance?.subdomain) {
    return (
      <p className="muted small">
        An admin must set the {provider.subdomainLabel ?? 'instance'} before you can connect.
      </p>
    );
  }

  const onSubmit = (e: FormEvent<HTMLFormElement>): void => {
    e.preventDefault();
    const value = subdomain.trim();
    if (editableSubdomain && !SUBDOMAIN.test(value)) {
      setInvalid(true);
      return;
    }
    setInvalid(false);
    start.mutate({
      vendor: provider.key,
      flow,
      subdomain: editableSubdomain && value !== instance?.subdomain ? value : undefined,
    });
  };

  return (
    <form className="connect-form" onSubmit={onSubmit} noValidate>
      {editableSubdomain && (
        <div className="field">
          <label htmlFor={inputId}>{provider.subdomainLabel ?? 'Subdomain'}</label>
          <div className="input-affix">
            <input
              id={inputId}
              name="subdomain"
              value={subdomain}
              onChange={(e) => setSubdomain(e.target.value)}
              autoComplete="off"
              spellCheck={false}
              required
              aria-invalid={invalid ? true : undefined}
              aria-describedby={invalid ? `${hintId} ${errorId}` : hintId}
            />
          </div>
          <p id={hintId} className="field-hint">
            The first part of your {provider.displayName} address, e.g. <code>acme</code>.
          </p>
          {invalid && (
            <p id={errorId} className="field-error" role="alert">
              Enter a subdomain: letters, digits and hyphens only.
            </p>
          )}
        </div>
      )}
      {start.isError && (
        <ErrorAlert error={start.error} title={`Could not connect ${provider.displayName}`} />
      )}
      <button type="submit" className="button button-primary" disabled={start.isPending}>
        {start.isPending ? 'Redirecting…' : label}
        <span className="visually-hidden"> {provider.displayName}</span>
      </button>
    </form>
  );
}
