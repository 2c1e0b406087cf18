import type { TIdentity } from '@otesse/identity';
import type { TConnection, TInstance } from '@otesse/contracts';
import type { TContext } from '../../trpc/context';
import { loadManageableConnection } from '../manageable-connection';

/** The connection the caller may disconnect (`loadManageableConnection`'s rule). */
export function loadDisconnectable(
  ctx: TContext & { identity: TIdentity },
  connectionId: string,
): Promise<{ connection: TConnection; instance: TInstance }> {
  return loadManageableConnection(ctx, connectionId, 'disconnecting');
}
