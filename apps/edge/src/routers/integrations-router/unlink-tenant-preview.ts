import { TRPCError } from '@trpc/server';
import { requirePermission } from '../../trpc/trpc';
import { LIVE_STATUSES } from './connection-view';
import { ZUnlinkTenantPreviewInput } from './unlink-tenant.schema';
import { busOptions } from '../../trpc/bus-options';

/**
 * The unlink dialog's data, changing nothing: the tenant the instance is pinned to, what would be erased (synced
 * records and references, per resource) and what is kept, and what stops it now (`blockedBy`): no pin, live
 * connections (disconnect them first), or an unlink or disconnect already holding the instance. Admins only.
 */
export const unlinkTenantPreview = requirePermission('settings.edit')
  .input(ZUnlinkTenantPreviewInput)
  .query(async ({ ctx, input }) => {
    const orgId = ctx.identity.orgId;
    const opts = busOptions(ctx);
    // The instance, with its newest connection on its tenant, revoked ones too (an unlinkable instance has no live
    // one): an Atlassian site's name.
    const named = await ctx.deps.bus.request(
      'connection.instances.get',
      { orgId, vendor: input.vendor, withTenant: true, newest: 1 },
      opts,
    );
    const instance = named.instance;
    if (!instance) throw new TRPCError({ code: 'NOT_FOUND', message: 'integration not found' });
    const [listed, data] = await Promise.all([
      // The live connections counted, not read: the org's and the admin's own, plus the other members' in number.
      ctx.deps.bus.request(
        'connection.integrations.list',
        { orgId, instanceId: instance.id, viewer: { userId: ctx.identity.userId, othersLimit: 0 } },
        opts,
      ),
      ctx.deps.bus.request(
        'sync-scheduler.instances.data-summary',
        { orgId, instanceId: instance.id },
        opts,
      ),
    ]);
    const entry = listed.instances[0];
    const liveConnections =
      (entry?.connections.filter((c) => LIVE_STATUSES.has(c.status)).length ?? 0) +
      (entry?.counts?.otherMembersLive ?? 0);
    const tenantId = instance.tenantId ?? null;
    const blockedBy =
      tenantId === null
        ? ('not_pinned' as const)
        : instance.unlinkInProgress === true
          ? ('unlink_in_progress' as const)
          : liveConnections > 0
            ? ('connections_live' as const)
            : null;
    return {
      instanceId: instance.id,
      vendor: instance.vendor,
      instanceStatus: instance.status,
      tenantId,
      /** The Atlassian site's name, from its newest connection (when the instance has sites). */
      siteName:
        named.connections.find((c) => c.tenantId !== null && c.tenantId === tenantId)?.details
          .siteName ?? null,
      canUnlink: blockedBy === null,
      blockedBy,
      /** Every live connection of the instance: the org's, the admin's own and the other members'. */
      liveConnections,
      erases: data,
      /** What an unlink keeps (the dashboard lists it beside what goes). */
      keeps: [
        'connection_history',
        'sync_job_configurations',
        'field_mappings',
        'audit_log',
      ] as const,
    };
  });
