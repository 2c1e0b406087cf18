import type { MikroORM } from '@mikro-orm/postgresql';
import { AppError } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import { runConnectionCommandOnce } from '../store/command-once';
import {
  SCHEMA,
  isLiveSlotViolation,
  loadInstance,
  lockConnection,
  toConnection,
  type TConnectionRow,
} from '../store/connection.store';
import { lockedBySaga } from './lock-connection.handler';

/**
 * Disconnect saga step 1, the semantic lock: connected (or error) → `disconnecting`, remembering the status it left
 * and the saga holding it. While it is held no new connect takes the slot, no refresh runs (the vault refreshes
 * connected connections only) and the sync scheduler starts nothing. The same saga asking again (another key) is
 * answered as done; another saga gets CONFLICT `already_disconnecting`; pending/revoked get `not_connected`;
 * a connection a reconnect / change-user saga holds (`connection.connections.lock`) gets `locked`.
 */
export function beginDisconnectHandler(
  orm: MikroORM,
): THandler<'connection.connections.begin-disconnect'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    try {
      const { reply } = await runConnectionCommandOnce(
        knex,
        {
          key: req.idempotencyKey,
          subject: 'connection.connections.begin-disconnect',
          orgId: req.orgId,
          connectionId: req.connectionId,
        },
        async (trx) => {
          const { connection: c, instance } = await lockConnection(
            trx,
            req.orgId,
            req.connectionId,
          );
          let row = c;
          if (c.status === 'disconnecting') {
            if (c.disconnect_saga_id !== req.sagaId) throw alreadyDisconnecting();
          } else if (c.lock_saga_id !== null) {
            // A reconnect / change-user saga is swapping the credentials: it completes or compensates first.
            throw lockedBySaga(c);
          } else if (c.status === 'connected' || c.status === 'error') {
            [row] = (await trx('integration_connection')
              .withSchema(SCHEMA)
              .where({ id: c.id })
              .update({
                status: 'disconnecting',
                status_before_disconnect: c.status,
                disconnect_saga_id: req.sagaId,
                updated_at: trx.fn.now(),
              })
              .returning('*')) as [TConnectionRow];
          } else {
            throw new AppError('CONFLICT', `connection is ${c.status}: nothing to disconnect`, {
              reason: 'not_connected',
              details: { status: c.status },
            });
          }
          return {
            connection: toConnection(row),
            instance: await loadInstance(trx, req.orgId, instance.id),
          };
        },
      );
      return reply;
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
