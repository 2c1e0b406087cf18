import { useId, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { useTRPC } from '../../trpc/trpc-context';
import { ErrorAlert } from '../../ui/error-alert';

/**
 * A sample of the Email Builder's composer: its "From" dropdown lists the sender emails of connected email
 * providers (Postmark), which is the dependent feature a Postmark disconnect warns about.
 */
export function EmailBuilderPage() {
  const trpc = useTRPC();
  const options = useQuery(trpc.emailBuilder.fromOptions.queryOptions());
  const catalogue = useQuery(trpc.catalogue.list.queryOptions());
  const [picked, setPicked] = useState('');
  const [subject, setSubject] = useState('Your monthly statement');
  const [body, setBody] = useState('Hello,\n\nyour statement for this month is ready.\n');
  const fromId = useId();
  const fromHintId = useId();
  const subjectId = useId();
  const bodyId = useId();
  const titleId = useId();

  const senders = options.data ?? [];
  const from = senders.some((s) => s.email === picked) ? picked : (senders[0]?.email ?? '');
  const vendorName = (vendor: string): string =>
    catalogue.data?.find((p) => p.key === vendor)?.displayName ?? vendor;

  return (
    <>
      <p className="page-intro">
        A sample of the composer: its “From” options are the sender emails of connected email
        providers, and they disappear when the provider is disconnected.
      </p>
      <div className="email-builder">
        <section className="card" aria-labelledby={titleId}>
          <h2 id={titleId}>Compose (sample)</h2>
          {options.isError && <ErrorAlert error={options.error} title="Could not load senders" />}
          <form className="stack" onSubmit={(e) => e.preventDefault()}>
            <div className="field">
              <label htmlFor={fromId}>From</label>
              <select
                id={fromId}
                value={from}
                onChange={(e) => setPicked(e.target.value)}
                disabled={senders.length === 0}
                aria-describedby={fromHintId}
              >
                {senders.length === 0 && <option value="">No sender available</option>}
                {senders.map((s) => (
                  <option key={`${s.vendor}:${s.email}`} value={s.email}>
                    {s.email} ({vendorName(s.vendor)})
                  </option>
                ))}
              </select>
              <p id={fromHintId} className="field-hint">
                {options.isPending
                  ? 'Loading senders…'
                  : senders.length === 0
                    ? 'No sender emails: connect Postmark in All Integrations to add senders.'
                    : 'Sender emails of your connected email providers. Disconnecting the provider removes them.'}
              </p>
            </div>
            <div className="field">
              <label htmlFor={subjectId}>Subject</label>
              <input id={subjectId} value={subject} onChange={(e) => setSubject(e.target.value)} />
            </div>
            <div className="field">
              <label htmlFor={bodyId}>Message</label>
              <textarea
                id={bodyId}
                rows={5}
                value={body}
                onChange={(e) => setBody(e.target.value)}
              />
            </div>
          </form>
        </section>
        <section className="card email-preview" aria-label="Preview">
          <p className="email-preview-meta">
            <span className="muted">From</span> {from || '—'}
          </p>
          <p className="email-preview-meta">
            <span className="muted">Subject</span> {subject || '—'}
          </p>
          <div className="email-preview-body">{body}</div>
        </section>
      </div>
    </>
  );
}
