import { useId, useState, type FormEvent } from 'react';
import { useMutation } from '@tanstack/react-query';
import type { TProvider } from '../../trpc/router-types';
import { useTRPC } from '../../trpc/trpc-context';
import { useRefreshIntegrationData } from '../../trpc/use-refresh-integration-data';
import { ErrorAlert } from '../../ui/error-alert';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function parseEmails(text: string): string[] {
  return text
    .split(/[\s,;]+/)
    .map((e) => e.trim())
    .filter(Boolean);
}

/** API-key providers (Postmark): the key and the provider's fields (sender emails), sent once to the vault. */
export function ApiKeyConnectForm({
  provider,
  onCancel,
  onConnected,
}: {
  provider: TProvider;
  onCancel(): void;
  onConnected(): void;
}) {
  const trpc = useTRPC();
  const refresh = useRefreshIntegrationData();
  const [apiKey, setApiKey] = useState('');
  const [senders, setSenders] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const keyId = useId();
  const sendersId = useId();
  const sendersHintId = useId();
  const problemId = useId();
  const senderField = provider.apiKeyFields.find((f) => f.key === 'senderEmails');
  const connect = useMutation(
    trpc.integrations.connectApiKey.mutationOptions({
      onSuccess: async () => {
        setApiKey('');
        await refresh();
        onConnected();
      },
    }),
  );

  const onSubmit = (e: FormEvent<HTMLFormElement>): void => {
    e.preventDefault();
    const emails = parseEmails(senders);
    // The edge's limits (connect-api-key.schema.ts), said here before anything is sent.
    const key = apiKey.trim();
    if (key.length < 8 || key.length > 256) {
      setProblem(
        `Enter the ${provider.apiKeyLabel ?? 'API key'} (${key.length < 8 ? 'at least 8' : 'at most 256'} characters).`,
      );
      return;
    }
    if (senderField?.required && emails.length === 0) {
      setProblem('Add at least one sender email.');
      return;
    }
    if (emails.length > 50) {
      setProblem(`At most 50 sender emails (${emails.length} given).`);
      return;
    }
    const bad = emails.find((em) => !EMAIL.test(em));
    if (bad) {
      setProblem(`"${bad}" is not an email address.`);
      return;
    }
    setProblem(null);
    connect.mutate({ vendor: provider.key, apiKey: key, senderEmails: emails });
  };

  return (
    <form
      className="connect-form api-key-form"
      onSubmit={onSubmit}
      noValidate
      aria-label={`Connect ${provider.displayName} with an API key`}
    >
      <div className="field">
        <label htmlFor={keyId}>{provider.apiKeyLabel ?? 'API key'}</label>
        <input
          id={keyId}
          name="apiKey"
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={apiKey}
          onChange={(e) => setApiKey(e.target.value)}
          required
          autoFocus
          aria-describedby={problem ? problemId : undefined}
        />
      </div>
      {senderField && (
        <div className="field">
          <label htmlFor={sendersId}>{senderField.label}</label>
          <textarea
            id={sendersId}
            name="senderEmails"
            rows={3}
            value={senders}
            onChange={(e) => setSenders(e.target.value)}
            required={senderField.required}
            aria-describedby={sendersHintId}
          />
          <p id={sendersHintId} className="field-hint">
            One per line or separated by commas. They appear as “From” options in the Email Builder.
          </p>
        </div>
      )}
      {problem && (
        <p id={problemId} className="field-error" role="alert">
          {problem}
        </p>
      )}
      {connect.isError && (
        <ErrorAlert error={connect.error} title={`Could not connect ${provider.displayName}`} />
      )}
      <div className="button-row">
        <button type="submit" className="button button-primary" disabled={connect.isPending}>
          {connect.isPending ? 'Connecting…' : `Connect ${provider.displayName}`}
        </button>
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
