import type { Knex } from '@mikro-orm/postgresql';

/** Who owns a personal connection, as an admin sees it: the edge's own user record, never a credential. */
export interface TConnectionOwner {
  email: string;
  name: string;
}

/**
 * The owners of the given connections' users, in one query on the edge's own `app_user` (no NATS round trip per
 * row). Scoped to the org: a user id of another org never resolves. No ids, no query.
 */
export async function loadConnectionOwners(
  knex: Knex,
  orgId: string,
  userIds: readonly string[],
): Promise<Map<string, TConnectionOwner>> {
  const ids = [...new Set(userIds)];
  if (ids.length === 0) return new Map();
  const rows = (await knex('app_user')
    .withSchema('edge')
    .where({ org_id: orgId })
    .whereIn('id', ids)
    .select('id', 'email', 'name')) as { id: string; email: string; name: string }[];
  return new Map(rows.map((r) => [r.id, { email: r.email, name: r.name }]));
}
