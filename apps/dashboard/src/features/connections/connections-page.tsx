import { useQuery } from '@tanstack/react-query';
import { useTRPC } from '../../trpc/trpc-context';
import { ErrorAlert } from '../../ui/error-alert';
import { ConnectionCard } from './connection-card';

export function ConnectionsPage() {
  const trpc = useTRPC();
  const integrations = useQuery(
    trpc.integrations.list.queryOptions(undefined, { refetchInterval: 30_000 }),
  );
  const withInstance = (integrations.data ?? []).filter((i) => i.instance !== null);
  return (
    <>
      <p className="page-intro">
        Status, health and who is connected for each integration your organization has set up, with
        its sync jobs.
      </p>
      {integrations.isError && (
        <ErrorAlert error={integrations.error} title="Could not load connections" />
      )}
      {integrations.isPending && (
        <p className="muted" role="status">
          Loading connections…
        </p>
      )}
      {integrations.isSuccess && withInstance.length === 0 && (
        <p className="empty">
          No integrations yet. <a href="#/integrations">Connect one from All Integrations</a>.
        </p>
      )}
      <div className="stack-lg">
        {withInstance.map((i) => (
          <ConnectionCard key={i.provider.key} integration={i} />
        ))}
      </div>
    </>
  );
}
