import type { Knex } from '@mikro-orm/postgresql';
import type { TIdentity } from '@otesse/identity';

/** A user as others see them in the dashboard: the edge's own user record (name and email), never a credential. */
export interface TPerson {
  name: string;
  email: string;
}

/**
 * The named users, in one query on the edge's own `app_user` (no NATS round trip per row). Scoped to the org: a
 * user id of another org never resolves (its entry is simply missing). No ids, no query. Every read that shows a
 * user (connections, sync jobs, operations, the audit log, the disconnect dialog) names them through this.
 */
export async function loadPeople(
  knex: Knex,
  orgId: string,
  userIds: readonly string[],
): Promise<Map<string, TPerson>> {
  const ids = [...new Set(userIds)];
  if (ids.length === 0) return new Map();
  const rows = (await knex('app_user')
    .withSchema('edge')
    .where({ org_id: orgId })
    .whereIn('id', ids)
    .select('id', 'email', 'name')) as { id: string; email: string; name: string }[];
  return new Map(rows.map((r) => [r.id, { email: r.email, name: r.name }]));
}

/**
 * Whether the caller may see who any user of the org is: settings.view or settings.edit (they read the audit log,
 * which names everyone). Anyone else sees themselves and whoever made the organization's connections, not which
 * colleagues connected their own accounts.
 */
export function mayNameAnyone(identity: Pick<TIdentity, 'permissions'>): boolean {
  return (
    identity.permissions.includes('settings.view') || identity.permissions.includes('settings.edit')
  );
}

/**
 * Whether the caller may see who made a connection: the organization's connections and the caller's own are named
 * to everyone, a colleague's personal one only under `mayNameAnyone`.
 */
export function mayNameOwner(
  identity: Pick<TIdentity, 'permissions' | 'userId'>,
  connection: { level: string; userId: string },
): boolean {
  return (
    connection.level === 'app' || connection.userId === identity.userId || mayNameAnyone(identity)
  );
}
