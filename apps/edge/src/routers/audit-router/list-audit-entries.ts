import { requirePermission } from '../../trpc/trpc';
import { loadPeople } from '../people';
import { ZListAuditEntriesInput } from './list-audit-entries.schema';
import { busOptions } from '../../trpc/bus-options';

/**
 * The org's audit log, newest first; only its own org, only with settings.view or settings.edit. Each entry names
 * its actor and the user it acted for (`actor`, `onBehalfOf`: name and email, null for the system or a user no
 * longer in the org), so the dashboard shows people, not ids.
 */
export const listAuditEntries = requirePermission('settings.view', 'settings.edit')
  .input(ZListAuditEntriesInput)
  .query(async ({ ctx, input }) => {
    const page = await ctx.deps.bus.request(
      'audit.entries.list',
      {
        orgId: ctx.identity.orgId,
        filters: input.filters,
        cursor: input.cursor,
        limit: input.limit,
      },
      busOptions(ctx),
    );
    const people = await loadPeople(
      ctx.deps.orm.em.getConnection().getKnex(),
      ctx.identity.orgId,
      page.entries.flatMap((e) => [e.actorUserId, e.onBehalfOfUserId].filter((id) => id !== null)),
    );
    return {
      ...page,
      entries: page.entries.map((e) => ({
        ...e,
        actor: e.actorUserId ? (people.get(e.actorUserId) ?? null) : null,
        onBehalfOf: e.onBehalfOfUserId ? (people.get(e.onBehalfOfUserId) ?? null) : null,
      })),
    };
  });
