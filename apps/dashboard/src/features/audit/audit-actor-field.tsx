import { useId } from 'react';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useCurrentUser } from '../../session/current-user-context';
import type { TAuditActor } from '../../trpc/router-types';
import { useTRPC } from '../../trpc/trpc-context';
import { personLabel } from '../../ui/person';
import { useDebouncedValue } from './use-debounced-value';

/** Matches offered at a time: a short list to pick from; past it, the user refines the search. */
const ACTOR_CHOICES = 20;
const SEARCH_DEBOUNCE_MS = 250;
/** The edge's limit on `search` (longer is BAD_REQUEST). */
const SEARCH_MAX_LENGTH = 100;

/**
 * The log's actor filter: a search by name or email, and a <select> of its matches (an org may have tens of
 * thousands of users, so the edge sends a page, never the whole org). The selected actor stays offered, by name,
 * whatever the search; with no search, the signed-in user is offered first, as "You".
 */
export function AuditActorField({
  search,
  actorId,
  onSearchChange,
  onActorChange,
}: {
  search: string;
  /** The selected actor's user id; '' for anyone. */
  actorId: string;
  onSearchChange(search: string): void;
  onActorChange(actorId: string): void;
}) {
  const trpc = useTRPC();
  const me = useCurrentUser();
  const ids = { search: useId(), actor: useId(), status: useId() };
  const term = useDebouncedValue(search.trim(), SEARCH_DEBOUNCE_MS);
  const named = [...new Set([...(term ? [] : [me.userId]), ...(actorId ? [actorId] : [])])];
  const actors = useQuery(
    trpc.audit.actors.queryOptions(
      { ...(term ? { search: term } : {}), limit: ACTOR_CHOICES, ids: named },
      // The previous matches stay listed while the next ones load, rather than the list emptying per keystroke.
      { placeholderData: keepPreviousData },
    ),
  );
  const users = actors.data?.users ?? [];
  const settled = actors.isSuccess && !actors.isPlaceholderData;
  const noMatch = term !== '' && settled && users.every((u) => u.id === actorId);
  const status = actors.isError
    ? 'Could not search the users.'
    : actors.data?.more
      ? `More than ${ACTOR_CHOICES} match: refine the search.`
      : noMatch
        ? actorId
          ? 'No one else matches.'
          : 'No one matches.'
        : '';

  return (
    <>
      <div className="field">
        <label htmlFor={ids.search}>Search actors</label>
        <input
          id={ids.search}
          type="search"
          placeholder="Name or email"
          autoComplete="off"
          maxLength={SEARCH_MAX_LENGTH}
          value={search}
          aria-controls={ids.actor}
          onChange={(e) => onSearchChange(e.target.value)}
        />
      </div>
      <div className="field">
        <label htmlFor={ids.actor}>Actor</label>
        <select
          id={ids.actor}
          value={actorId}
          aria-describedby={ids.status}
          onChange={(e) => onActorChange(e.target.value)}
        >
          <option value="">Anyone</option>
          {sortedActors(users, me.userId).map((u) => (
            <option key={u.id} value={u.id}>
              {personLabel(u.id, u, me)} ({u.email})
            </option>
          ))}
          {/* Selected but not (or not yet) listed, e.g. no longer in the org: still the select's value. */}
          {actorId && !users.some((u) => u.id === actorId) && (
            <option value={actorId}>{personLabel(actorId, null, me)}</option>
          )}
        </select>
        <p id={ids.status} className="field-hint" role="status">
          {status}
        </p>
      </div>
    </>
  );
}

/** The signed-in user first ("You"), then everyone else by name. */
function sortedActors(actors: TAuditActor[], myId: string): TAuditActor[] {
  return [...actors].sort(
    (a, b) =>
      Number(b.id === myId) - Number(a.id === myId) ||
      a.name.localeCompare(b.name) ||
      a.email.localeCompare(b.email),
  );
}
