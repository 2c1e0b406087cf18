import { useCurrentUser } from '../../session/current-user-context';
import type { TAuditEntry, TProvider } from '../../trpc/router-types';
import { formatDateTime } from '../../ui/format-date';
import { personLabel } from '../../ui/person';
import { StatusBadge, type TTone } from '../../ui/status-badge';
import { AUDIT_ACTION_LABELS } from './audit-action-labels';
import { AuditDetails } from './audit-details';

const OUTCOME_TONE: Record<TAuditEntry['outcome'], TTone> = {
  success: 'success',
  partial: 'warning',
  failure: 'danger',
};

export function AuditTable({
  entries,
  providers,
}: {
  entries: TAuditEntry[];
  providers: TProvider[];
}) {
  const me = useCurrentUser();
  const who = (id: string | null, person: TAuditEntry['actor']): string =>
    personLabel(id, person, me, {
      withEmail: true,
      fallback: 'A user no longer in the organization',
    });
  const providerName = (key: string | null): string =>
    key === null ? '—' : (providers.find((p) => p.key === key)?.displayName ?? key);
  return (
    <div className="table-wrap">
      <table className="table audit-table">
        <caption className="visually-hidden">Audit log entries, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Action</th>
            <th scope="col">Provider</th>
            <th scope="col">Actor</th>
            <th scope="col">Outcome</th>
            <th scope="col">Details</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((e) => (
            <tr key={e.id} data-action={e.action}>
              <td className="nowrap">
                <time dateTime={e.occurredAt}>{formatDateTime(e.occurredAt)}</time>
              </td>
              <td>{AUDIT_ACTION_LABELS[e.action]}</td>
              <td>{providerName(e.provider)}</td>
              <td title={e.actorUserId ?? undefined}>
                {who(e.actorUserId, e.actor)}
                {e.onBehalfOfUserId && (
                  <span className="muted small block">
                    for {who(e.onBehalfOfUserId, e.onBehalfOf)}
                  </span>
                )}
                {e.ip && <span className="muted small block">IP {e.ip}</span>}
              </td>
              <td>
                <StatusBadge tone={OUTCOME_TONE[e.outcome]}>{e.outcome}</StatusBadge>
              </td>
              <td>
                <AuditDetails entry={e} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
