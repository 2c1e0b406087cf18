import { useState } from 'react';
import { useInfiniteQuery } from '@tanstack/react-query';
import type { TIntegration } from '../../trpc/router-types';
import { useTRPC, useTRPCClient } from '../../trpc/trpc-context';
import { ErrorAlert } from '../../ui/error-alert';
import { ConnectionDetails } from './connection-details';

const PAGE_SIZE = 50;

/**
 * The other members' personal connections an admin's card leaves out (the list carries the oldest ones), paged in
 * on demand after the last one shown: an org may have one per member.
 */
export function MoreMemberConnections({ integration }: { integration: TIntegration }) {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const [open, setOpen] = useState(false);
  const shown = integration.otherConnections;
  const vendor = integration.provider.key;
  // Where the list's cut ends (it pages oldest first; the list itself is sorted by owner).
  const after = integration.otherConnectionsNext;
  // Paged by hand (the edge's strict input refuses infiniteQueryOptions' `direction`); the key sits under
  // `integrations.memberConnections`, so a disconnect's invalidation of the integrations reaches it.
  const pages = useInfiniteQuery({
    queryKey: [...trpc.integrations.memberConnections.queryKey({ vendor }), 'pages', after],
    queryFn: ({ pageParam, signal }) =>
      client.integrations.memberConnections.query(
        { vendor, limit: PAGE_SIZE, ...(pageParam ? { after: pageParam } : {}) },
        { signal },
      ),
    initialPageParam: after,
    getNextPageParam: (page) => page.nextAfter,
    enabled: open,
  });
  // A member's connection the list carried beyond its cut (an operation open on it) may come again in a page.
  const shownIds = new Set(shown.map((c) => c.id));
  const more = (pages.data?.pages.flatMap((p) => p.connections) ?? []).filter(
    (c) => !shownIds.has(c.id),
  );
  const hidden = integration.otherConnectionsTotal - shown.length - more.length;
  if (!after || integration.otherConnectionsTotal <= shown.length) return null;
  return (
    <>
      {more.map((c) => (
        <ConnectionDetails key={c.id} integration={integration} connection={c} />
      ))}
      {pages.isError && (
        <ErrorAlert error={pages.error} title="Could not load more members' connections" />
      )}
      {hidden > 0 && (!open || pages.hasNextPage) && (
        <p className="muted small" data-testid="more-member-connections">
          {moreMembersText(hidden)}{' '}
          <button
            type="button"
            className="button load-more"
            disabled={pages.isFetching}
            onClick={() => (open ? void pages.fetchNextPage() : setOpen(true))}
          >
            Show {Math.min(PAGE_SIZE, hidden)} more
          </button>
        </p>
      )}
    </>
  );
}

/** The members' connections not shown yet. */
export const moreMembersText = (n: number): string =>
  `${n} more member${n === 1 ? '' : 's'} connected with their own account.`;
