import type { TAuditEntry } from '../../trpc/router-types';

function show(value: unknown): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return value.length ? value.map(show).join(', ') : 'none';
  return JSON.stringify(value);
}

/** The entry's details as key/value pairs (they never hold secrets: the audit contract refuses them). */
export function AuditDetails({ entry }: { entry: TAuditEntry }) {
  const pairs = Object.entries(entry.details);
  if (pairs.length === 0) return <span className="muted">—</span>;
  return (
    <dl className="details-list">
      {pairs.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{show(v)}</dd>
        </div>
      ))}
    </dl>
  );
}
