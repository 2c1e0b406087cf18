import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';
import { useCurrentUser } from '../../session/current-user-context';
import type { TIntegration } from '../../trpc/router-types';
import { useTRPC } from '../../trpc/trpc-context';
import { ErrorAlert } from '../../ui/error-alert';
import { formatRelative } from '../../ui/format-date';
import { StatusBadge } from '../../ui/status-badge';

/**
 * The instance's inbound webhook endpoint: the URL to give the provider, whether it takes deliveries (disabled and
 * kept by a disconnect, enabled again on reconnect) and whether a signing secret is set. An admin sets or replaces
 * the secret here; it is never shown again, by anyone.
 */
export function WebhookPanel({ integration }: { integration: TIntegration }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const me = useCurrentUser();
  const titleId = useId();
  const secretId = useId();
  const { provider } = integration;
  const [secret, setSecret] = useState('');
  const endpointQuery = trpc.integrations.webhookEndpoint.queryOptions({ vendor: provider.key });
  // Polled while setting up: the provider's first delivery shows up by itself.
  const webhook = useQuery({
    ...endpointQuery,
    enabled: provider.webhooks,
    refetchInterval: 15_000,
  });
  const save = useMutation(
    trpc.integrations.setWebhookSecret.mutationOptions({
      onSuccess: () => setSecret(''),
      onSettled: () => queryClient.invalidateQueries({ queryKey: endpointQuery.queryKey }),
    }),
  );
  if (!provider.webhooks) return null;
  const data = webhook.data;
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    save.mutate({ vendor: provider.key, secret });
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
            </dd>
          </div>
          <div>
            <dt>Deliveries</dt>
            <dd>
              {data.endpoint.status === 'enabled' ? (
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
            <dt>Signing secret</dt>
            <dd>
              {data.secretConfigured ? (
                <span>Set {formatRelative(data.secretUpdatedAt)}</span>
              ) : (
                <span>
                  <StatusBadge tone="warning">not set</StatusBadge>
                  <span className="muted small"> deliveries are refused until one is set</span>
                </span>
              )}
            </dd>
          </div>
        </dl>
      )}
      {data?.endpoint && me.canEdit && (
        <form className="inline-form" onSubmit={submit}>
          <label htmlFor={secretId}>
            {data.secretConfigured ? 'Replace the signing secret' : 'Signing secret'}
          </label>
          <input
            id={secretId}
            type="password"
            autoComplete="off"
            spellCheck={false}
            value={secret}
            minLength={16}
            maxLength={512}
            required
            onChange={(e) => setSecret(e.target.value)}
            aria-describedby={data.secretHint ? `${secretId}-hint` : undefined}
          />
          <button type="submit" disabled={save.isPending || secret === ''}>
            {save.isPending ? 'Saving…' : 'Save secret'}
          </button>
          {data.secretHint && (
            <p id={`${secretId}-hint`} className="muted small">
              Where to find it: {data.secretHint}
            </p>
          )}
          {save.isSuccess && (
            <p role="status" className="small">
              Signing secret saved.
            </p>
          )}
          {save.isError && <ErrorAlert error={save.error} title="Could not save the secret" />}
        </form>
      )}
    </section>
  );
}
