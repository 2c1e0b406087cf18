import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';
import { useCurrentUser } from '../../session/current-user-context';
import type { TIntegration } from '../../trpc/router-types';
import { useTRPC } from '../../trpc/trpc-context';
import { ErrorAlert } from '../../ui/error-alert';
import { formatDateTime, formatRelative } from '../../ui/format-date';
import { StatusBadge } from '../../ui/status-badge';

/** How long a replaced secret stays accepted: the choices offered (hours; the API takes 0–168). */
const KEEP_PREVIOUS_CHOICES = [
  { hours: 0, label: 'no: refuse it at once' },
  { hours: 1, label: 'for 1 hour' },
  { hours: 24, label: 'for 24 hours' },
  { hours: 168, label: 'for 7 days' },
] as const;

/** What the endpoint's last refusal means, for the admin setting things up (the sender was told only 401). */
function refusalText(reason: string, secretWord: string): string {
  switch (reason) {
    case 'signature_no_secret':
      return `no ${secretWord} is set here yet`;
    case 'signature_missing':
      return secretWord === 'password' ? 'it carried no credentials' : 'it carried no signature';
    case 'signature_mismatch':
      return `it did not match the ${secretWord} set here`;
    case 'timestamp_missing':
      return 'its signed timestamp was missing';
    case 'timestamp_stale':
      return 'its signed timestamp was more than 5 minutes off';
    default:
      return 'it could not be checked';
  }
}

/** A password for providers whose deliveries carry basic credentials: 32 random URL-safe characters. */
function generatePassword(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_');
}

/** The endpoint's URL with basic credentials in it, the password left as a placeholder. */
function urlWithCredentials(url: string, username: string): string {
  const u = new URL(url);
  return `${u.protocol}//${username}:<password>@${u.host}${u.pathname}`;
}

/**
 * The instance's inbound webhook endpoint: the URL to give the provider, whether it takes deliveries (disabled and
 * kept by a disconnect, enabled again on reconnect) and whether a signing secret is set. An admin sets or replaces
 * the secret here — keeping the replaced one accepted for a while if the provider is switched after — and stops a
 * replaced one once the provider uses the new one. No secret is ever shown again, by anyone. For providers that
 * send basic credentials (Postmark) the secret is a password the admin makes up (or generates here) and puts in
 * the URL given to the provider.
 */
export function WebhookPanel({ integration }: { integration: TIntegration }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const me = useCurrentUser();
  const titleId = useId();
  const secretId = useId();
  const { provider } = integration;
  const keepId = useId();
  const [secret, setSecret] = useState('');
  // A generated password is shown, so it can be copied to the provider; a pasted secret is not.
  const [revealed, setRevealed] = useState(false);
  const [keepPreviousHours, setKeepPreviousHours] = useState(0);
  const endpointQuery = trpc.integrations.webhookEndpoint.queryOptions({ vendor: provider.key });
  // Polled while setting up: the provider's first delivery shows up by itself.
  const webhook = useQuery({
    ...endpointQuery,
    enabled: provider.webhooks,
    refetchInterval: 15_000,
  });
  const save = useMutation(
    trpc.integrations.setWebhookSecret.mutationOptions({
      onSuccess: () => {
        setSecret('');
        setRevealed(false);
        setKeepPreviousHours(0);
      },
      onSettled: () => queryClient.invalidateQueries({ queryKey: endpointQuery.queryKey }),
    }),
  );
  const [confirmRemove, setConfirmRemove] = useState(false);
  const remove = useMutation(
    trpc.integrations.removeWebhookSecret.mutationOptions({
      onSuccess: () => setConfirmRemove(false),
      onSettled: () => queryClient.invalidateQueries({ queryKey: endpointQuery.queryKey }),
    }),
  );
  const expirePrevious = useMutation(
    trpc.integrations.expirePreviousWebhookSecret.mutationOptions({
      onSettled: () => queryClient.invalidateQueries({ queryKey: endpointQuery.queryKey }),
    }),
  );
  if (!provider.webhooks) return null;
  const data = webhook.data;
  const basic = data?.authentication?.kind === 'basic' ? data.authentication : null;
  const secretWord = basic ? 'password' : 'signing secret';
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    save.mutate({
      vendor: provider.key,
      secret,
      keepPreviousHours: data?.secretConfigured ? keepPreviousHours : 0,
    });
  };

  return (
    <section className="webhook-panel" aria-labelledby={titleId}>
      <h4 id={titleId}>Inbound webhooks</h4>
      {webhook.isError && <ErrorAlert error={webhook.error} title="Could not load the webhook" />}
      {data && !data.endpoint && (
        <p className="muted small">The endpoint is created with the first connection.</p>
      )}
      {data?.endpoint && (
        <dl className="facts">
          <div className="facts-wide">
            <dt>Endpoint URL</dt>
            <dd>
              <code className="webhook-url">{data.endpoint.url}</code>
              {basic && (
                <p className="muted small">
                  {provider.displayName} sends basic credentials: give it the URL with the user name{' '}
                  <code>{basic.username}</code> and the password set here,{' '}
                  <code className="webhook-url">
                    {urlWithCredentials(data.endpoint.url, basic.username)}
                  </code>
                </p>
              )}
            </dd>
          </div>
          <div>
            <dt>Deliveries</dt>
            <dd>
              {data.endpoint.status === 'enabled' && data.supported && !data.secretConfigured ? (
                // Enabled, but nothing can be checked yet: every delivery is refused (401) until a secret is set.
                <>
                  <StatusBadge tone="warning">refused</StatusBadge>
                  <span className="muted small"> until a {secretWord} is set</span>
                </>
              ) : data.endpoint.status === 'enabled' ? (
                <StatusBadge tone="success">accepted</StatusBadge>
              ) : (
                <>
                  <StatusBadge tone="warning">disabled</StatusBadge>
                  <span className="muted small">
                    {' '}
                    refused (410) since the disconnect; enabled again on reconnect
                  </span>
                </>
              )}
            </dd>
          </div>
          <div>
            <dt>Last delivery</dt>
            <dd>
              {data.endpoint.lastDeliveryAt ? (
                formatRelative(data.endpoint.lastDeliveryAt)
              ) : (
                <span className="muted">none yet</span>
              )}
            </dd>
          </div>
          <div>
            <dt>{basic ? 'Password' : 'Signing secret'}</dt>
            <dd>
              {data.secretConfigured ? (
                <span>
                  Set {formatRelative(data.secretUpdatedAt)}{' '}
                  {me.canEdit && !confirmRemove && (
                    <button
                      type="button"
                      className="button button-secondary"
                      onClick={() => setConfirmRemove(true)}
                    >
                      Remove
                    </button>
                  )}
                </span>
              ) : (
                <StatusBadge tone="warning">not set</StatusBadge>
              )}
            </dd>
          </div>
          {data.endpoint.lastRefusal && (
            <div className="facts-wide">
              <dt>Last refused</dt>
              <dd className="small">
                {formatRelative(data.endpoint.lastRefusal.at)}:{' '}
                {refusalText(data.endpoint.lastRefusal.reason, secretWord)}
              </dd>
            </div>
          )}
          {data.previousSecret && (
            <div className="facts-wide">
              <dt>Previous {secretWord}</dt>
              <dd>
                <StatusBadge tone="warning">still accepted</StatusBadge>{' '}
                <span className="small">
                  until {formatDateTime(data.previousSecret.validUntil)};{' '}
                  {data.previousSecret.lastUsedAt
                    ? `last used ${formatRelative(data.previousSecret.lastUsedAt)}: ${provider.displayName} has not switched yet`
                    : 'not used since it was replaced'}
                </span>{' '}
                {me.canEdit && (
                  <button
                    type="button"
                    className="button button-secondary"
                    disabled={expirePrevious.isPending}
                    onClick={() => expirePrevious.mutate({ vendor: provider.key })}
                  >
                    {expirePrevious.isPending ? 'Stopping…' : 'Stop accepting it'}
                  </button>
                )}
              </dd>
            </div>
          )}
        </dl>
      )}
      {confirmRemove && data?.secretConfigured && (
        <div
          className="alert alert-warning"
          role="alertdialog"
          aria-label={`Remove the ${secretWord}?`}
        >
          <p className="small">
            Every delivery from {provider.displayName} will be refused until a new {secretWord} is
            set
            {data.previousSecret ? `; the previous ${secretWord} goes too` : ''}.
          </p>
          <button
            type="button"
            className="button button-danger"
            disabled={remove.isPending}
            onClick={() => remove.mutate({ vendor: provider.key })}
          >
            {remove.isPending ? 'Removing…' : `Remove the ${secretWord}`}
          </button>{' '}
          <button
            type="button"
            className="button button-secondary"
            onClick={() => setConfirmRemove(false)}
          >
            Cancel
          </button>
        </div>
      )}
      {remove.isError && (
        <ErrorAlert error={remove.error} title={`Could not remove the ${secretWord}`} />
      )}
      {expirePrevious.isError && (
        <ErrorAlert
          error={expirePrevious.error}
          title={`Could not stop the previous ${secretWord}`}
        />
      )}
      {expirePrevious.isSuccess && !data?.previousSecret && (
        <p role="status" className="small">
          The previous {secretWord} is no longer accepted.
        </p>
      )}
      {data?.endpoint && me.canEdit && (
        <form className="inline-form" onSubmit={submit}>
          <label htmlFor={secretId}>
            {data.secretConfigured
              ? `Replace the ${secretWord}`
              : secretWord[0]!.toUpperCase() + secretWord.slice(1)}
          </label>
          <input
            id={secretId}
            type={revealed ? 'text' : 'password'}
            autoComplete="off"
            spellCheck={false}
            value={secret}
            minLength={16}
            maxLength={512}
            required
            onChange={(e) => {
              setSecret(e.target.value);
              setRevealed(false);
            }}
            aria-describedby={data.secretHint ? `${secretId}-hint` : undefined}
          />
          {basic && (
            <button
              type="button"
              className="button button-secondary"
              onClick={() => {
                setSecret(generatePassword());
                setRevealed(true);
              }}
            >
              Generate
            </button>
          )}
          {data.secretConfigured && (
            <>
              <label htmlFor={keepId}>Keep accepting the current one</label>
              <select
                id={keepId}
                value={keepPreviousHours}
                onChange={(e) => setKeepPreviousHours(Number(e.target.value))}
              >
                {KEEP_PREVIOUS_CHOICES.map((c) => (
                  <option key={c.hours} value={c.hours}>
                    {c.label}
                  </option>
                ))}
              </select>
            </>
          )}
          <button type="submit" disabled={save.isPending || secret === ''}>
            {save.isPending ? 'Saving…' : basic ? 'Save password' : 'Save secret'}
          </button>
          {revealed && (
            <p className="small">
              Copy this password now, into the URL you give {provider.displayName}: it is not shown
              again once saved.
            </p>
          )}
          {data.secretHint && (
            <p id={`${secretId}-hint`} className="muted small">
              Where to find it: {data.secretHint}
            </p>
          )}
          {save.isSuccess && (
            <p role="status" className="small">
              {basic ? 'Password saved.' : 'Signing secret saved.'}
            </p>
          )}
          {save.isError && <ErrorAlert error={save.error} title="Could not save the secret" />}
        </form>
      )}
    </section>
  );
}
