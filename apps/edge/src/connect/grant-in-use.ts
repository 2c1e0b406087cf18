import type { TEdgeDeps } from '../trpc/context';

export interface TGrantHolders {
  pending: number;
  connected: number;
  disconnecting: number;
}

/**
 * The live connections holding an external account's grant at a vendor, counted in every org: the deployment has
 * one OAuth client per vendor, so the same account connected in two orgs shares one grant. `exceptConnectionId`
 * leaves out the connection asking. One indexed read in the connection service; only counts come back.
 */
export async function grantHoldersOfAccount(
  deps: Pick<TEdgeDeps, 'bus'>,
  q: { orgId: string; vendor: string; externalAccountId: string; exceptConnectionId?: string },
  ctx: { traceId: string; actorUserId: string; orgId: string },
): Promise<TGrantHolders> {
  const { holders } = await deps.bus.request('connection.accounts.grant-holders', q, {
    ctx,
    timeoutMs: 3_000,
  });
  return holders;
}
