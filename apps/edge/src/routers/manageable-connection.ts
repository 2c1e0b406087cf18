import { TRPCError } from '@trpc/server';
import type { TIdentity } from '@otesse/identity';
import type { TConnection, TInstance } from '@otesse/contracts';
import type { TContext } from '../trpc/context';
import { busOptions } from '../trpc/bus-options';

/**
 * A connection the caller may act on (disconnect it, cancel its connect): another org's is NOT_FOUND (the
 * connection service answers the same for both); someone else's — or the org's app-level connection — needs
 * settings.edit (seed edge case). `doing` words the FORBIDDEN message ("disconnecting").
 */
export async function loadManageableConnection(
  ctx: TContext & { identity: TIdentity },
  connectionId: string,
  doing: string,
): Promise<{ connection: TConnection; instance: TInstance }> {
  const { connection, instance } = await ctx.deps.bus.request(
    'connection.connections.get',
    { orgId: ctx.identity.orgId, connectionId },
    busOptions(ctx),
  );
  const ownUserLevel = connection.level === 'user' && connection.userId === ctx.identity.userId;
  if (!ownUserLevel && !ctx.identity.permissions.includes('settings.edit')) {
    throw new TRPCError({
      code: 'FORBIDDEN',
      message: `${doing} another user's or the organization's connection needs settings.edit`,
    });
  }
  return { connection, instance };
}
