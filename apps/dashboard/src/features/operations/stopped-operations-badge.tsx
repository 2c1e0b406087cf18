import { useQuery } from '@tanstack/react-query';
import { useTRPC } from '../../trpc/trpc-context';

/** Beside "Operations" in the menu: how many stopped part-way and wait for a resume (nothing when none). */
export function StoppedOperationsBadge() {
  const trpc = useTRPC();
  const summary = useQuery(
    trpc.operations.summary.queryOptions(undefined, { refetchInterval: 15_000 }),
  );
  const stopped = summary.data?.stopped ?? 0;
  if (stopped === 0) return null;
  return (
    <span className="nav-badge" data-testid="stopped-operations">
      {stopped}
      <span className="visually-hidden">
        {stopped === 1 ? ' operation stopped part-way' : ' operations stopped part-way'}
      </span>
    </span>
  );
}
