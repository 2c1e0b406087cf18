import { publicProviderView } from '@otesse/providers';
import { authedProcedure } from '../../trpc/trpc';
import { connectionView } from './connection-view';
import { ZListIntegrationsInput } from './list-integrations.schema';

/** Every catalogue provider with the org's instance, its app-level connection and the caller's own connection. */
export const listIntegrations = authedProcedure
  .input(ZListIntegrationsInput)
  .query(async ({ ctx, input }) => {
    const { instances } = await ctx.deps.bus.request(
      'connection.integrations.list',
      { orgId: ctx.identity.orgId },
      {
        ctx: { traceId: ctx.traceId, actorUserId: ctx.identity.userId, orgId: ctx.identity.orgId },
      },
    );
    const byVendor = new Map(instances.map((i) => [i.instance.vendor, i]));
    return ctx.deps.catalogue
      .list()
      .filter((p) => !input?.category || p.category === input.category)
      .map((p) => {
        const entry = byVendor.get(p.key);
        const connections = entry?.connections ?? [];
        const app = connections.find(
          (c) => c.level === 'app' && c.status !== 'revoked' && c.status !== 'error',
        );
        const mine = connections.find(
          (c) =>
            c.level === 'user' &&
            c.userId === ctx.identity.userId &&
            c.status !== 'revoked' &&
            c.status !== 'error',
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
              }
            : null,
          integrated: entry?.instance.status === 'connected',
          appConnection: app ? connectionView(app) : null,
          myConnection: mine ? connectionView(mine) : null,
          userConnections: connections.filter((c) => c.level === 'user' && c.status === 'connected')
            .length,
          refreshTokenExpired: connections.some(
            (c) => c.status === 'connected' && c.refreshTokenExpired,
          ),
        };
      });
  });
