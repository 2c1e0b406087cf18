import type { MikroORM } from '@mikro-orm/postgresql';
import { AppError, type TReplyOf } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import { runSqlCommandOnce } from '@otesse/persistence';
import { isLiveSlotViolation } from '../store/connection.store';

const SUBJECT = 'connection.connections.begin-disconnect';

/**
 * Disconnect saga step 1, the semantic lock: connected (or error) → `disconnecting`, remembering the status it left
 * and the saga holding it. While it is held no new connect takes the slot, no refresh runs (the vault refreshes
 * connected connections only) and the sync scheduler starts nothing. The same saga asking again (another key) is
 * answered as done; another saga gets CONFLICT `already_disconnecting`; pending/revoked get `not_connected`;
 * a connection a reconnect / change-user saga holds (`connection.connections.lock`) gets `locked`.
 *
 * One round trip: the function `connection.begin_disconnect` (migration `disconnect_functions`) does it all under
 * the instance's, then the connection's row lock, deduped on the idempotency key in the same transaction.
 */
export function beginDisconnectHandler(orm: MikroORM): THandler<typeof SUBJECT> {
  return async (req) => {
    try {
      const { result } = await runSqlCommandOnce<TReplyOf<typeof SUBJECT>>(
        orm.em.getConnection().getKnex(),
        {
          name: 'connection.begin_disconnect',
          text: 'select "connection".begin_disconnect($1, $2, $3, $4) as r',
          values: [req.idempotencyKey, req.orgId, req.connectionId, req.sagaId],
          subject: SUBJECT,
        },
      );
      return result;
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

export const alreadyDisconnecting = (): AppError =>
  new AppError('CONFLICT', 'another disconnect of this connection is in progress', {
    reason: 'already_disconnecting',
  });
