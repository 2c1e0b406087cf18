import { TRPCError } from '@trpc/server';
import { authedProcedure } from '../../trpc/trpc';
import { loadPeople } from '../people';
import { OPERATION_TYPES, unfinishedOperations } from './connection-operations';
import { memberConnectionView } from './connection-view';
import { ZListMemberConnectionsInput } from './list-member-connections.schema';
import { busOptions } from '../../trpc/bus-options';

/**
 * The other members' live personal connections to a provider, a page at a time, oldest first, as `integrations.list`
 * shows its first ones (with their owner and any operation on them): for settings.edit, who may disconnect them.
 * `integrations.list` carries the first `OTHERS_SHOWN`; an org with more members pages through the rest here.
 */
export const listMemberConnections = authedProcedure
  .input(ZListMemberConnectionsInput)
  .query(async ({ ctx, input }) => {
    const { identity } = ctx;
    if (!identity.permissions.includes('settings.edit')) {
      throw new TRPCError({
        code: 'FORBIDDEN',
        message: "other members' connections are listed for settings.edit only",
      });
    }
    // An unknown provider: BAD_REQUEST (the catalogue's own error), before anything is asked.
    ctx.deps.catalogue.get(input.vendor);
    const opts = busOptions(ctx);
    const [page, open] = await Promise.all([
      ctx.deps.bus.request(
        'connection.instances.member-connections',
        {
          orgId: identity.orgId,
          vendor: input.vendor,
          exceptUserId: identity.userId,
          limit: input.limit,
          ...(input.after !== undefined ? { after: input.after } : {}),
        },
        opts,
      ),
      ctx.deps.sagas.openSubjects(identity.orgId, OPERATION_TYPES),
    ]);
    const [people, operations] = await Promise.all([
      loadPeople(
        ctx.deps.orm.em.getConnection().getKnex(),
        identity.orgId,
        page.connections.map((c) => c.userId),
      ),
      unfinishedOperations(ctx.deps.sagas, open, identity.orgId, page.connections),
    ]);
    return {
      connections: page.connections.map((c) => memberConnectionView(c, people, operations)),
      nextAfter: page.nextAfter,
    };
  });
