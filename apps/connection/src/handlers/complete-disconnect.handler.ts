import type { MikroORM } from '@mikro-orm/postgresql';
import type { THandler } from '@otesse/messaging';
import { runDisconnectFunction } from '../store/disconnect-functions';

/**
 * Disconnect saga step 5 (seed "Update Statuses"), one transaction under the instance's row lock (so two users
 * disconnecting at once see each other and exactly one of them revokes the instance):
 * - the connection → `revoked` with revokedAt;
 * - no other live connection (pending/connected/disconnecting) → the instance `revoked` (row kept), its inbound
 *   webhook endpoint `disabled` (kept, re-enabled by the next activation), its health `unknown` with checks
 *   stopped. Webhooks and health belong to the instance, not to a connection: while other users keep the
 *   instance connected they stay as they are (a personal disconnect stops nobody else's webhooks or health);
 * - only pending others (a connect mid-OAuth) → the instance waits as `pending` remembering `revoked`, and is
 *   treated as revoked here (webhooks off, health unknown): an abandoned connect puts it back to `revoked`.
 * The same saga asking again (another key) gets the state again; another saga's disconnect is CONFLICT
 * `already_disconnecting`; a connection not disconnecting is CONFLICT `not_disconnecting`.
 *
 * One round trip: the function `connection.complete_disconnect` (migration `disconnect_functions`).
 */
export function completeDisconnectHandler(
  orm: MikroORM,
): THandler<'connection.connections.complete-disconnect'> {
  return (req) =>
    runDisconnectFunction(
      orm,
      'connection.connections.complete-disconnect',
      'complete_disconnect',
      req,
    );
}
