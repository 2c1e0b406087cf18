import { skipToken, useQuery } from '@tanstack/react-query';
import { useId } from 'react';
import { useCurrentUser } from '../../session/current-user-context';
import type { TIntegration } from '../../trpc/router-types';
import { useTRPC } from '../../trpc/trpc-context';
import { ErrorAlert } from '../../ui/error-alert';
import { SyncJobRow } from './sync-job-row';
import { groupJobsByConnection, recordsByResource, resourceLabel } from './sync-job-text';

/**
 * The instance's sync jobs, grouped by the connection each syncs for (the organization's, each member's own), with
 * their last execution and counts; kept (disabled) through a disconnect. The local records are the instance's, one
 * count per resource whichever connection synced them, so they are shown once below the jobs, not per job.
 */
/** An instance with jobs for many members' connections: the list shows yours and the organization's first. */
const jobsNotShownText = (shown: number, total: number): string =>
  `Showing ${shown} of ${total} sync jobs: the organization's and your own first, then the members' oldest.`;

export function SyncJobsPanel({ integration }: { integration: TIntegration }) {
  const trpc = useTRPC();
  const me = useCurrentUser();
  const titleId = useId();
  const instanceId = integration.instance?.id;
  const hasData = integration.provider.syncResources.length > 0;
  const jobs = useQuery(
    trpc.sync.listJobs.queryOptions(instanceId && hasData ? { instanceId } : skipToken, {
      // Poll while something is running or about to run, so the last execution updates by itself.
      refetchInterval: (q) =>
        q.state.data?.jobs.some(
          (j) => j.lastExecution?.status === 'running' || j.job.runRequestedAt,
        )
          ? 1500
          : 30_000,
    }),
  );
  if (!hasData) return null;
  const groups = jobs.data ? groupJobsByConnection(jobs.data.jobs, me) : [];
  const records = jobs.data ? recordsByResource(jobs.data.jobs) : [];

  return (
    <section className="sync-jobs" aria-labelledby={titleId}>
      <h4 id={titleId}>Sync jobs</h4>
      {jobs.isError && <ErrorAlert error={jobs.error} title="Could not load sync jobs" />}
      {jobs.isPending && (
        <p className="muted small" role="status">
          Loading sync jobs…
        </p>
      )}
      {jobs.data && jobs.data.jobs.length === 0 && <p className="muted small">No sync jobs.</p>}
      {groups.map((g) => (
        <div
          key={g.connectionId}
          className="table-wrap sync-job-group"
          data-connection-id={g.connectionId}
        >
          <table className="table">
            <caption className="sync-job-group-title">{g.label}</caption>
            <thead>
              <tr>
                <th scope="col">Resource</th>
                <th scope="col">Schedule</th>
                <th scope="col">State</th>
                <th scope="col">Last execution</th>
                <th scope="col">Executions</th>
                {me.canEdit && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {g.jobs.map((j) => (
                <SyncJobRow key={j.job.id} overview={j} />
              ))}
            </tbody>
          </table>
        </div>
      ))}
      {jobs.data && jobs.data.jobsTotal > jobs.data.jobs.length && (
        <p className="muted small" data-testid="jobs-not-shown">
          {jobsNotShownText(jobs.data.jobs.length, jobs.data.jobsTotal)}
        </p>
      )}
      {jobs.data && jobs.data.jobs.length > 0 && (
        <p className="muted small" data-testid="instance-records">
          Records kept in Otesse for this instance, whichever connection synced them:{' '}
          {records.map((r) => `${resourceLabel(r.resource)} ${r.records}`).join(' · ')}. External
          references: {jobs.data.references.synced} synced · {jobs.data.references.stale} stale.
        </p>
      )}
    </section>
  );
}
