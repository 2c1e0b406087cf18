import type { TEdgeDeps } from '../trpc/context';

/**
 * Whether revoking any token of a user at this vendor ends the user's whole grant to our client (catalogue
 * `revocationScope: 'grant'`: Google), and so every live connection of that account with it.
 */
export function revokesWholeGrant(catalogue: TEdgeDeps['catalogue'], vendor: string): boolean {
  return catalogue.has(vendor) && catalogue.get(vendor).oauth?.revocationScope === 'grant';
}

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
