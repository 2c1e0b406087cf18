import { useCurrentUser } from '../../session/current-user-context';
import type { TOperation, TProvider } from '../../trpc/router-types';
import { formatDateTime } from '../../ui/format-date';
import { personLabel } from '../../ui/person';
import { StatusBadge, type TTone } from '../../ui/status-badge';
import { operationTitle } from '../catalogue/integration-status';
import { useOpenDisconnectDialog } from '../disconnect/disconnect-dialog-context';
import { stepLabel } from '../disconnect/disconnect-steps';
import { ResumeOperationButton } from './resume-operation-button';

const STATUS_VIEW: Record<TOperation['status'], { label: string; tone: TTone }> = {
  running: { label: 'in progress', tone: 'info' },
  compensating: { label: 'undoing', tone: 'warning' },
  completed: { label: 'completed', tone: 'success' },
  compensated: { label: 'undone', tone: 'neutral' },
  failed: { label: 'stopped', tone: 'danger' },
};

export function OperationsTable({
  operations,
  providers,
}: {
  operations: TOperation[];
  providers: TProvider[];
}) {
  const me = useCurrentUser();
  const open = useOpenDisconnectDialog();
  const providerName = (key: string | null): string =>
    key === null ? '—' : (providers.find((p) => p.key === key)?.displayName ?? key);
  const person = (id: string, named: TOperation['actor']): string =>
    personLabel(id, named, me, { withEmail: id === me.userId });
  // What the server allows: whoever started it, the owner of a personal connection, settings.edit.
  const mayResume = (o: TOperation) =>
    me.canEdit || o.actorUserId === me.userId || o.ownerUserId === me.userId;
  return (
    <div className="table-wrap">
      <table className="table operations-table">
        <caption className="visually-hidden">Operations, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Started</th>
            <th scope="col">Operation</th>
            <th scope="col">Provider</th>
            <th scope="col">Started by</th>
            <th scope="col">Status</th>
            <th scope="col">Where</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {operations.map((o) => {
            const status = STATUS_VIEW[o.status];
            const name = providerName(o.vendor);
            return (
              <tr key={o.id} data-operation-id={o.id} data-status={o.status}>
                <td className="nowrap">
                  <time dateTime={o.createdAt}>{formatDateTime(o.createdAt)}</time>
                </td>
                <td>
                  {operationTitle(o.type)}
                  {o.timesResumed > 0 && (
                    <span className="muted small block">
                      resumed {o.timesResumed} {o.timesResumed === 1 ? 'time' : 'times'}
                    </span>
                  )}
                </td>
                <td>{name}</td>
                <td title={o.actorUserId}>
                  {person(o.actorUserId, o.actor)}
                  {o.ownerUserId && o.ownerUserId !== o.actorUserId && (
                    <span className="muted small block">for {person(o.ownerUserId, o.owner)}</span>
                  )}
                </td>
                <td>
                  <StatusBadge tone={status.tone}>{status.label}</StatusBadge>
                </td>
                <td>
                  {o.status === 'failed' ||
                  o.status === 'compensated' ||
                  o.status === 'compensating'
                    ? o.error && (
                        <>
                          {stepLabel(o.error.step)}
                          <span className="muted small block">
                            {o.error.message} ({o.error.code})
                          </span>
                        </>
                      )
                    : o.currentStep
                      ? stepLabel(o.currentStep)
                      : '—'}
                </td>
                <td>
                  <div className="button-row">
                    {o.type === 'disconnect' && o.connectionId && (
                      <button
                        type="button"
                        className="button button-small"
                        onClick={() =>
                          open({ connectionId: o.connectionId!, providerName: name, sagaId: o.id })
                        }
                      >
                        Steps<span className="visually-hidden"> of the {name} disconnect</span>
                      </button>
                    )}
                    {o.needsResume && mayResume(o) && (
                      <ResumeOperationButton sagaId={o.id} label="Resume" />
                    )}
                  </div>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
