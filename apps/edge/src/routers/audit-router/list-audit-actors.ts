import { requirePermission } from '../../trpc/trpc';
import { ZNoInput } from '../../trpc/no-input.schema';

/**
 * The org's users by name, for the audit log's actor filter (which still filters by id): only the caller's own
 * org, only for those who may read the log (settings.view or settings.edit).
 */
export const listAuditActors = requirePermission('settings.view', 'settings.edit')
  .input(ZNoInput)
  .query(async ({ ctx }) => {
    const rows = (await ctx.deps.orm.em
      .getConnection()
      .getKnex()('app_user')
      .withSchema('edge')
      .where({ org_id: ctx.identity.orgId })
      .orderBy([{ column: 'name' }, { column: 'email' }])
      .select('id', 'name', 'email')) as { id: string; name: string; email: string }[];
    return { users: rows.map((r) => ({ id: r.id, name: r.name, email: r.email })) };
  });
