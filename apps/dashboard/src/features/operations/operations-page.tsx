import { useId, useState } from 'react';
import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { useCurrentUser } from '../../session/current-user-context';
import type { TOperationsInput } from '../../trpc/router-types';
import { useTRPC, useTRPCClient } from '../../trpc/trpc-context';
import { ErrorAlert } from '../../ui/error-alert';
import { OperationsTable } from './operations-table';

const PAGE_SIZE = 25;

type TStatusFilter = NonNullable<TOperationsInput['status']> | 'all';

const STATUS_OPTIONS: { value: TStatusFilter; label: string }[] = [
  { value: 'all', label: 'All' },
  { value: 'stopped', label: 'Stopped (need a resume)' },
  { value: 'open', label: 'In progress' },
  { value: 'completed', label: 'Completed' },
  { value: 'compensated', label: 'Undone' },
];

/**
 * Disconnects, reconnects and changes of user as operations: what runs now, what finished, and what stopped past
 * its point of no return and waits for a resume. An admin sees the organization's, anyone else those they started
 * or that acted on their connections.
 */
export function OperationsPage() {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const me = useCurrentUser();
  const [status, setStatus] = useState<TStatusFilter>('all');
  const statusId = useId();
  const catalogue = useQuery(trpc.catalogue.list.queryOptions());
  const input = { limit: PAGE_SIZE, ...(status === 'all' ? {} : { status }) };
  // Paged by hand, like the audit log: the edge's strict input refuses the helper's `direction` field.
  const list = useInfiniteQuery({
    queryKey: [...trpc.operations.list.queryKey(input), 'pages'],
    queryFn: ({ pageParam, signal }) =>
      client.operations.list.query(
        { ...input, ...(pageParam ? { cursor: pageParam } : {}) },
        { signal },
      ),
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.nextCursor,
    refetchInterval: 5_000,
  });
  const items = list.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <>
      <p className="page-intro">
        {me.canViewAudit
          ? "Your organization's disconnects, reconnects and changes of user, newest first."
          : 'Disconnects, reconnects and changes of user you started or that acted on your connections, newest first.'}{' '}
        One that stopped part-way (a service kept failing after the point of no return) continues
        from where it stopped when resumed.
      </p>
      <div className="card filters" role="group" aria-label="Operations filters">
        <div className="filters-grid">
          <div className="field">
            <label htmlFor={statusId}>Status</label>
            <select
              id={statusId}
              value={status}
              onChange={(e) => setStatus(e.currentTarget.value as TStatusFilter)}
            >
              {STATUS_OPTIONS.map((o) => (
                <option key={o.value} value={o.value}>
                  {o.label}
                </option>
              ))}
            </select>
          </div>
        </div>
      </div>
      {list.isError && <ErrorAlert error={list.error} title="Could not load the operations" />}
      {list.isPending ? (
        <p className="muted" role="status">
          Loading operations…
        </p>
      ) : list.isError && items.length === 0 ? null : (
        <>
          <p className="muted small" role="status">
            {items.length === 0
              ? 'No operations match.'
              : `Showing ${items.length} ${items.length === 1 ? 'operation' : 'operations'}${list.hasNextPage ? '' : ' (all)'}.`}
          </p>
          {items.length > 0 && (
            <OperationsTable operations={items} providers={catalogue.data ?? []} />
          )}
          {list.hasNextPage && (
            <button
              type="button"
              className="button load-more"
              onClick={() => void list.fetchNextPage()}
              disabled={list.isFetchingNextPage}
            >
              {list.isFetchingNextPage ? 'Loading…' : 'Load more'}
            </button>
          )}
        </>
      )}
    </>
  );
}
