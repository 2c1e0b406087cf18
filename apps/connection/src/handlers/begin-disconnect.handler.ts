import type { MikroORM } from '@mikro-orm/postgresql';
import { AppError } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import { isLiveSlotViolation } from '../store/connection.store';
import { runDisconnectFunction } from '../store/disconnect-functions';

/**
 * Disconnect saga step 1, authorization and the semantic lock. Another org's connection is NOT_FOUND; with an
 * `actor`, someone else's user-level connection or the org's app-level one is FORBIDDEN `not_owner` unless the edge
 * vouches for settings.edit (seed edge case). Then the lock: connected (or error) → `disconnecting`, remembering the status it left
 * and the saga holding it. While it is held no new connect takes the slot, no refresh runs (the vault refreshes
 * connected connections only) and the sync scheduler starts nothing. The same saga asking again (another key) is
 * answered as done; another saga gets CONFLICT `already_disconnecting`; pending/revoked get `not_connected`;
 * a connection a reconnect / change-user saga holds (`connection.connections.lock`) gets `locked`.
 *
 * The instance's last live connection also holds the instance for its saga (`instanceRevoking`: no connect of any
 * slot until the statuses or the compensation, so step 5 will revoke it).
 *
 * One round trip: the function `connection.begin_disconnect` (migrations `disconnect_functions`,
 * `begin_without_instance_lock`: only the connection's row is locked, the instance's is left to the decisions that
 * read its connections; `instance_revoking`: except for the last live connection, which takes it first to hold it).
 */
export function beginDisconnectHandler(
  orm: MikroORM,
): THandler<'connection.connections.begin-disconnect'> {
  return async (req) => {
    try {
      return await runDisconnectFunction(
        orm,
        'connection.connections.begin-disconnect',
        'begin_disconnect',
        req,
        req.actor ?? null,
      );
    } catch (e) {
      // An `error` connection whose slot a newer connection took cannot become live again.
      if (isLiveSlotViolation(e)) {
        throw new AppError('CONFLICT', 'another connection holds this slot', {
          reason: 'not_connected',
        });
      }
      throw e;
    }
  };
}
