import type { TConnection } from '@otesse/contracts';
import type { TEdgeDeps } from '../trpc/context';

/**
 * Whether revoking any token of a user at this vendor ends the user's whole grant to our client (catalogue
 * `revocationScope: 'grant'`: Google), and so every live connection of that account with it.
 */
export function revokesWholeGrant(catalogue: TEdgeDeps['catalogue'], vendor: string): boolean {
  return catalogue.has(vendor) && catalogue.get(vendor).oauth?.revocationScope === 'grant';
}

/**
 * The org's connections of one external account at a vendor, history included: whether revoking a token of that
 * account would end a grant one of them still uses. One indexed read: an instance may hold hundreds of others.
 */
export async function connectionsOfAccount(
  deps: Pick<TEdgeDeps, 'bus'>,
  q: { orgId: string; vendor: string; externalAccountId: string },
  ctx: { traceId: string; actorUserId: string; orgId: string },
): Promise<TConnection[]> {
  const { connections } = await deps.bus.request('connection.instances.get', q, {
    ctx,
    timeoutMs: 3_000,
  });
  return connections;
}
