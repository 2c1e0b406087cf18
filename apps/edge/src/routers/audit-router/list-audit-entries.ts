import { requirePermission } from '../../trpc/trpc';
import { ZListAuditEntriesInput } from './list-audit-entries.schema';

/** The org's audit log, newest first; only its own org, only with settings.view or settings.edit. */
export const listAuditEntries = requirePermission('settings.view', 'settings.edit')
  .input(ZListAuditEntriesInput)
  .query(async ({ ctx, input }) =>
    ctx.deps.bus.request(
      'audit.entries.list',
      {
        orgId: ctx.identity.orgId,
        filters: input.filters,
        cursor: input.cursor,
        limit: input.limit,
      },
      {
        ctx: { traceId: ctx.traceId, actorUserId: ctx.identity.userId, orgId: ctx.identity.orgId },
      },
    ),
  );
