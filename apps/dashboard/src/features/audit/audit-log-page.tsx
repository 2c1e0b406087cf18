import { useState } from 'react';
import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import type { TAuditFilters } from '../../trpc/router-types';
import { useTRPC, useTRPCClient } from '../../trpc/trpc-context';
import { ErrorAlert } from '../../ui/error-alert';
import { AuditFiltersForm } from './audit-filters-form';
import { AuditTable } from './audit-table';

const PAGE_SIZE = 25;

export function AuditLogPage() {
  const trpc = useTRPC();
  const [filters, setFilters] = useState<TAuditFilters>({});
  const catalogue = useQuery(trpc.catalogue.list.queryOptions());
  const client = useTRPCClient();
  const input = { filters, limit: PAGE_SIZE };
  // Paged by hand rather than with `infiniteQueryOptions`: that helper adds a `direction` field to the input,
  // which the edge's strict input schema refuses. The key still sits under `audit.list`, so invalidation reaches it.
  const log = useInfiniteQuery({
    queryKey: [...trpc.audit.list.queryKey(input), 'pages'],
    queryFn: ({ pageParam, signal }) =>
      client.audit.list.query({ ...input, cursor: pageParam }, { signal }),
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.nextCursor,
  });
  const entries = log.data?.pages.flatMap((p) => p.entries) ?? [];
  const providers = catalogue.data ?? [];

  return (
    <>
      <p className="page-intro">
        Every connect, disconnect, reconnect and change of user in your organization: who, which
        provider, the outcome and its details.
      </p>
      <AuditFiltersForm providers={providers} onApply={setFilters} />
      {log.isError && <ErrorAlert error={log.error} title="Could not load the audit log" />}
      {log.isPending ? (
        <p className="muted" role="status">
          Loading the audit log…
        </p>
      ) : log.isError && entries.length === 0 ? null : (
        <>
          <p className="muted small" role="status">
            {entries.length === 0
              ? 'No entries match these filters.'
              : `Showing ${entries.length} ${entries.length === 1 ? 'entry' : 'entries'}${log.hasNextPage ? '' : ' (all)'}.`}
          </p>
          {entries.length > 0 && <AuditTable entries={entries} providers={providers} />}
          {log.hasNextPage && (
            <button
              type="button"
              className="button load-more"
              onClick={() => void log.fetchNextPage()}
              disabled={log.isFetchingNextPage}
            >
              {log.isFetchingNextPage ? 'Loading…' : 'Load more'}
            </button>
          )}
        </>
      )}
    </>
  );
}
