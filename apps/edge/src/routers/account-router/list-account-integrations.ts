import { countOrgUsers } from '@otesse/identity';
import { authedProcedure } from '../../trpc/trpc';
import { restErrorResponses } from '../../http/rest-errors';
import {
  isFlagSet,
  ZListAccountIntegrationsInput,
  ZListAccountIntegrationsOutput,
} from './list-account-integrations.schema';
import { busOptions } from '../../trpc/bus-options';

/**
 * `GET /v1/account/integrations` (seed 003), also a tRPC query. `refreshTokenExpired` is true when a connected
 * connection of the instance can no longer refresh (the UI shows the Reconnect warning). `connectionDetails`
 * (only with `includeUserLevelConnectionData=true` or `1`): `total` = the org's users (everyone may connect a
 * user-level connection), `connected` = users with a connected user-level connection to the vendor.
 */
export const listAccountIntegrations = authedProcedure
  .meta({
    openapi: {
      method: 'GET',
      path: '/account/integrations',
      summary: "The org's integrations with their status and refresh-token health",
      protect: true,
      errorResponses: restErrorResponses(),
    },
  })
  .input(ZListAccountIntegrationsInput)
  .output(ZListAccountIntegrationsOutput)
  .query(async ({ ctx, input }) => {
    const orgId = ctx.identity.orgId;
    const withUsers = isFlagSet(input.includeUserLevelConnectionData);
    const [{ instances }, users] = await Promise.all([
      ctx.deps.bus.request(
        'connection.integrations.list',
        // The instances and their counts: none of the ended connections, none of the members' (counted instead).
        { orgId, endedConnectionIds: [], viewer: { userId: ctx.identity.userId, othersLimit: 0 } },
        busOptions(ctx),
      ),
      withUsers
        ? countOrgUsers(ctx.deps.orm.em.getConnection().getKnex(), orgId)
        : Promise.resolve(0),
    ]);
    const byVendor = new Map(instances.map((i) => [i.instance.vendor, i]));
    return ctx.deps.catalogue
      .list()
      .filter((p) => !input.type || p.category === input.type)
      .map((p) => {
        const entry = byVendor.get(p.key);
        const counts = entry?.counts;
        return {
          vendor: p.key,
          integrated: entry?.instance.status === 'connected',
          ...(withUsers
            ? { connectionDetails: { total: users, connected: counts?.connectedUsers ?? 0 } }
            : {}),
          refreshTokenExpired: (counts?.refreshTokenExpired ?? 0) > 0,
        };
      });
  });
