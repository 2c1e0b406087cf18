import { TRPCError } from '@trpc/server';
import { requirePermission } from '../../trpc/trpc';
import { ZUnlinkTenantPreviewInput } from './unlink-tenant.schema';

/** Live connections counted for the preview; more reads as "at least this many". */
const LIVE_COUNT_CAP = 1_000;

/**
 * The unlink dialog's data, changing nothing: the tenant the instance is pinned to, what would be erased (synced
 * records and references, per resource) and what is kept, and what stops it now (`blockedBy`): no pin, live
 * connections (disconnect them first), or an unlink or disconnect already holding the instance. Admins only.
 */
export const unlinkTenantPreview = requirePermission('settings.edit')
  .input(ZUnlinkTenantPreviewInput)
  .query(async ({ ctx, input }) => {
    const orgId = ctx.identity.orgId;
    const opts = { ctx: { traceId: ctx.traceId, actorUserId: ctx.identity.userId, orgId } };
    const [{ instance, connections }, named] = await Promise.all([
      ctx.deps.bus.request(
        'connection.instances.get',
        {
          orgId,
          vendor: input.vendor,
          statuses: ['pending', 'connected', 'disconnecting'],
          newest: LIVE_COUNT_CAP,
        },
        opts,
      ),
      // The newest connection on the instance's tenant, revoked ones too (an unlinkable instance has no live one):
      // an Atlassian site's name.
      ctx.deps.bus.request(
        'connection.instances.get',
        { orgId, vendor: input.vendor, withTenant: true, newest: 1 },
        opts,
      ),
    ]);
    if (!instance) throw new TRPCError({ code: 'NOT_FOUND', message: 'integration not found' });
    const data = await ctx.deps.bus.request(
      'sync-scheduler.instances.data-summary',
      { orgId, instanceId: instance.id },
      opts,
    );
    const tenantId = instance.tenantId ?? null;
    const blockedBy =
      tenantId === null
        ? ('not_pinned' as const)
        : instance.unlinkInProgress === true
          ? ('unlink_in_progress' as const)
          : connections.length > 0
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
      liveConnections: connections.length,
      liveConnectionsCapped: connections.length >= LIVE_COUNT_CAP,
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
