import { authedProcedure } from '../../trpc/trpc';
import { ZNoInput } from '../../trpc/no-input.schema';
import { connectionView } from './connection-view';
import { busOptions } from '../../trpc/bus-options';

/**
 * The caller's own live connections (user-level ones and app-level ones they made). The connection service leaves
 * the other members' out (`viewer` with no others): the reply never grows with the org.
 */
export const listMyConnections = authedProcedure.input(ZNoInput).query(async ({ ctx }) => {
  const { instances } = await ctx.deps.bus.request(
    'connection.integrations.list',
    {
      orgId: ctx.identity.orgId,
      endedConnectionIds: [],
      viewer: { userId: ctx.identity.userId, othersLimit: 0 },
    },
    busOptions(ctx),
  );
  return instances.flatMap((i) =>
    i.connections.filter((c) => c.userId === ctx.identity.userId).map(connectionView),
  );
});
