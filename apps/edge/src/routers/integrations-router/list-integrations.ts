import { publicProviderView } from '@otesse/providers';
import type { TConnection } from '@otesse/contracts';
import { authedProcedure } from '../../trpc/trpc';
import { loadConnectionOwners } from './connection-owners';
import { connectionView, LIVE_STATUSES, otherConnectionView } from './connection-view';
import { ZListIntegrationsInput } from './list-integrations.schema';

/**
 * Every catalogue provider with the org's instance, its app-level connection and the caller's own connection.
 * A caller with settings.edit (who may disconnect them) also gets the other members' live personal connections
 * with their owner; anyone else an empty list. `refreshTokenExpired` covers what the caller can act on: the
 * app-level connection (admins reconnect it, others ask one) and their own. Another member's expired personal
 * connection only its owner can reconnect: it shows on that connection. (`GET /v1/account/integrations` keeps
 * the seed's aggregate over every connected connection.)
 */
export const listIntegrations = authedProcedure
  .input(ZListIntegrationsInput)
  .query(async ({ ctx, input }) => {
    const { identity } = ctx;
    const { instances } = await ctx.deps.bus.request(
      'connection.integrations.list',
      { orgId: identity.orgId },
      {
        ctx: { traceId: ctx.traceId, actorUserId: identity.userId, orgId: identity.orgId },
      },
    );
    const mayManageOthers = identity.permissions.includes('settings.edit');
    const byVendor = new Map(instances.map((i) => [i.instance.vendor, i]));
    const providers = ctx.deps.catalogue
      .list()
      .filter((p) => !input?.category || p.category === input.category);
    // Other members' live personal connections, by vendor: only for a caller who may disconnect them.
    const othersByVendor = new Map<string, TConnection[]>(
      mayManageOthers
        ? instances.map((i) => [
            i.instance.vendor,
            i.connections.filter(
              (c) =>
                c.level === 'user' && c.userId !== identity.userId && LIVE_STATUSES.has(c.status),
            ),
          ])
        : [],
    );
    const owners = await loadConnectionOwners(
      ctx.deps.orm.em.getConnection().getKnex(),
      identity.orgId,
      providers.flatMap((p) => (othersByVendor.get(p.key) ?? []).map((c) => c.userId)),
    );
    return providers.map((p) => {
      const entry = byVendor.get(p.key);
      const connections = entry?.connections ?? [];
      const app = connections.find(
        (c) => c.level === 'app' && c.status !== 'revoked' && c.status !== 'error',
      );
      const mine = connections.find(
        (c) =>
          c.level === 'user' &&
          c.userId === identity.userId &&
          c.status !== 'revoked' &&
          c.status !== 'error',
      );
      const others = (othersByVendor.get(p.key) ?? [])
        .map((c) => otherConnectionView(c, owners.get(c.userId) ?? null))
        .sort(
          (a, b) =>
            (a.owner?.email ?? a.userId).localeCompare(b.owner?.email ?? b.userId) ||
            a.id.localeCompare(b.id),
        );
      return {
        provider: publicProviderView(p),
        instance: entry
          ? {
              id: entry.instance.id,
              status: entry.instance.status,
              health: entry.instance.health,
              healthCheckedAt: entry.instance.healthCheckedAt,
              subdomain: entry.instance.config.subdomain ?? null,
              /** The site an admin chose for the instance (Atlassian), named as its connections know it. */
              site: siteOf(entry.instance.config.site, connections),
            }
          : null,
        integrated: entry?.instance.status === 'connected',
        appConnection: app ? connectionView(app) : null,
        myConnection: mine ? connectionView(mine) : null,
        /** Other members' live personal connections, with their owner: only for settings.edit, else empty. */
        otherConnections: others,
        userConnections: connections.filter((c) => c.level === 'user' && c.status === 'connected')
          .length,
        refreshTokenExpired: [app, mine].some(
          (c) => c?.status === 'connected' && c.refreshTokenExpired,
        ),
      };
    });
  });

/** The instance's chosen site with the name its newest connection on it recorded (null until one connected). */
function siteOf(
  site: string | undefined,
  connections: readonly TConnection[],
): { id: string; name: string | null } | null {
  if (site === undefined) return null;
  const named = connections.filter((c) => c.tenantId === site && c.details.siteName).at(-1);
  return { id: site, name: named?.details.siteName ?? null };
}
