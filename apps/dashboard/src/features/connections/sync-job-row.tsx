import { useId } from 'react';
import { useMutation } from '@tanstack/react-query';
import { useCurrentUser } from '../../session/current-user-context';
import type { TSyncJobOverview } from '../../trpc/router-types';
import { trpcCode, trpcReason } from '../../trpc/query-client';
import { useTRPC } from '../../trpc/trpc-context';
import { useRefreshIntegrationData } from '../../trpc/use-refresh-integration-data';
import { ErrorAlert } from '../../ui/error-alert';
import { formatRelative } from '../../ui/format-date';
import { StatusBadge, type TTone } from '../../ui/status-badge';
import {
  disabledJobHint,
  enableBlockedReason,
  jobHeldText,
  resourceLabel,
  syncJobErrorText,
} from './sync-job-text';

type TExecutionStatus = NonNullable<TSyncJobOverview['lastExecution']>['status'];

const EXECUTION_TONE: Record<TExecutionStatus, TTone> = {
  running: 'info',
  succeeded: 'success',
  failed: 'danger',
  cancelled: 'warning',
  skipped: 'neutral',
};

function scheduleLabel(schedule: TSyncJobOverview['job']['schedule']): string {
  if (schedule.kind === 'cron') return `Cron ${schedule.expression}`;
  const s = schedule.everySeconds;
  if (s % 86_400 === 0) return `Every ${s / 86_400} d`;
  if (s % 3600 === 0) return `Every ${s / 3600} h`;
  if (s % 60 === 0) return `Every ${s / 60} min`;
  return `Every ${s} s`;
}

export function SyncJobRow({ overview }: { overview: TSyncJobOverview }) {
  const trpc = useTRPC();
  const me = useCurrentUser();
  const refresh = useRefreshIntegrationData();
  const reasonId = useId();
  const { job, lastExecution: last, executions, connection } = overview;
  const onSettled = (): Promise<void> => refresh();
  const enable = useMutation(trpc.sync.enableJob.mutationOptions({ onSettled }));
  const disable = useMutation(trpc.sync.disableJob.mutationOptions({ onSettled }));
  const runNow = useMutation(trpc.sync.runNow.mutationOptions({ onSettled }));
  const busy = enable.isPending || disable.isPending || runNow.isPending;
  const error = enable.error ?? disable.error ?? runNow.error;
  const resource = resourceLabel(job.resource);
  // Offered only when the scheduler would accept it; otherwise disabled, with why.
  const enableBlocked = job.isEnabled ? null : enableBlockedReason(connection);
  const held = jobHeldText(job);
  // No controls for whoever cannot edit: say why it is off and who can turn it on.
  const hint = disabledJobHint(job, connection, me.canEdit);

  return (
    <tr data-job-id={job.id} data-resource={job.resource}>
      <th scope="row">{resource}</th>
      <td>{scheduleLabel(job.schedule)}</td>
      <td>
        <StatusBadge tone={job.isEnabled ? 'success' : 'neutral'}>
          {job.isEnabled ? 'Enabled' : 'Disabled'}
        </StatusBadge>
        {held && (
          <span className="muted small block" data-testid="job-held">
            {held}
          </span>
        )}
        {hint && (
          <span className="muted small block" data-testid="job-disabled-hint">
            {hint}
          </span>
        )}
      </td>
      <td>
        {last ? (
          <>
            <StatusBadge tone={EXECUTION_TONE[last.status]}>{last.status}</StatusBadge>
            <span className="muted small block">
              {formatRelative(last.completedAt ?? last.startedAt)} · {last.recordsFetched} fetched ·{' '}
              {last.recordsWritten} written
            </span>
            {last.error && <span className="field-error small block">{last.error}</span>}
          </>
        ) : (
          <span className="muted">Not run yet</span>
        )}
      </td>
      <td className="small">
        {executions.succeeded} ok · {executions.failed} failed · {executions.cancelled} cancelled
      </td>
      {me.canEdit && (
        <td>
          <div className="button-row">
            {job.isEnabled ? (
              <button
                type="button"
                className="button button-small"
                disabled={busy}
                onClick={() => disable.mutate({ jobId: job.id })}
              >
                Disable<span className="visually-hidden"> {job.resource} sync</span>
              </button>
            ) : (
              <button
                type="button"
                className="button button-small"
                disabled={busy || enableBlocked !== null}
                aria-describedby={enableBlocked ? reasonId : undefined}
                onClick={() => enable.mutate({ jobId: job.id })}
              >
                Enable<span className="visually-hidden"> {job.resource} sync</span>
              </button>
            )}
            <button
              type="button"
              className="button button-small"
              disabled={busy || !job.isEnabled}
              onClick={() => runNow.mutate({ jobId: job.id })}
            >
              {runNow.isPending ? 'Requesting…' : 'Run now'}
              <span className="visually-hidden"> {job.resource} sync</span>
            </button>
          </div>
          {enableBlocked && (
            <p id={reasonId} className="muted small" data-testid="enable-blocked">
              {enableBlocked}
            </p>
          )}
          {error && (
            <ErrorAlert
              error={error}
              message={syncJobErrorText(trpcCode(error), trpcReason(error)) ?? undefined}
            />
          )}
        </td>
      )}
    </tr>
  );
}
