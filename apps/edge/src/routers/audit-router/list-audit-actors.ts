import { requirePermission } from '../../trpc/trpc';
import { ZListAuditActorsInput } from './list-audit-actors.schema';

type TActorRow = { id: string; name: string; email: string };

/** `search` as a literal substring of a LIKE pattern (escape character `\`). */
function likeSubstring(search: string): string {
  return `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * The org's users by name, for the audit log's actor filter (which still filters by id): only the caller's own
 * org, only for those who may read the log (settings.view or settings.edit). A page, never the whole org: those
 * whose name or email contains `search` (case-insensitive), by name, email and id, at most `limit` (`more`: there
 * were others), then those of `ids` not already listed, whether or not they match (still only the org's).
 *
 * No index serves the search: `app_user_org_idx` narrows to the org, and a btree cannot serve `ilike '%x%'`, so each
 * call filters the org's rows. The limit bounds the reply, which was the problem; a pg_trgm index if the scan shows.
 */
export const listAuditActors = requirePermission('settings.view', 'settings.edit')
  .input(ZListAuditActorsInput)
  .query(async ({ ctx, input }) => {
    const knex = ctx.deps.orm.em.getConnection().getKnex();
    const orgUsers = () =>
      knex('app_user')
        .withSchema('edge')
        .where({ org_id: ctx.identity.orgId })
        .orderBy([{ column: 'name' }, { column: 'email' }, { column: 'id' }])
        .select('id', 'name', 'email');
    const pattern = input.search ? likeSubstring(input.search) : null;
    const page = (await orgUsers()
      .modify((q) => {
        if (pattern)
          q.where((w) =>
            w
              .whereRaw(`name ilike ? escape '\\'`, [pattern])
              .orWhereRaw(`email ilike ? escape '\\'`, [pattern]),
          );
      })
      // One more than asked: whether there are more, without counting them all.
      .limit(input.limit + 1)) as TActorRow[];
    const listed = page.slice(0, input.limit);
    const seen = new Set(listed.map((r) => r.id));
    const wanted = [...new Set(input.ids ?? [])].filter((id) => !seen.has(id));
    const named =
      wanted.length > 0 ? ((await orgUsers().whereIn('id', wanted)) as TActorRow[]) : [];
    return {
      users: [...listed, ...named].map((r) => ({ id: r.id, name: r.name, email: r.email })),
      more: page.length > input.limit,
    };
  });
