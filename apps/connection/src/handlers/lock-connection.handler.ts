import type { MikroORM } from '@mikro-orm/postgresql';
import { AppError } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import { runConnectionCommandOnce } from '../store/command-once';
import {
  SCHEMA,
  loadConnection,
  loadInstance,
  lockConnection,
  type TConnectionRow,
} from '../store/connection.store';

/**
 * Reconnect / change-user saga step 1, the semantic lock: the connection stays `connected` (syncs go on, the
 * vault keeps refreshing) while the saga swaps its credentials, but no disconnect (begin-disconnect answers
 * CONFLICT `locked`) and no other reconnect / change-user can start. Under the instance's and the connection's
 * row locks, like begin-disconnect, so of a reconnect and a disconnect racing for one connection exactly one wins.
 * The same saga asking again (another key) is answered as done; CONFLICT `disconnecting` while a disconnect holds
 * the connection, `locked` while another saga holds it (or this one for the other purpose), `not_connected` for
 * pending / revoked / error — an `error` connection is a failed connect (the refresh-token expiry never moves a
 * connection to `error`: it stays `connected` with refreshTokenExpired), to be connected again from scratch;
 * `account_changed` when the connection's account is no longer the one the saga expects.
 */
export function lockConnectionHandler(orm: MikroORM): THandler<'connection.connections.lock'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    const { reply } = await runConnectionCommandOnce(
      knex,
      {
        key: req.idempotencyKey,
        subject: 'connection.connections.lock',
        orgId: req.orgId,
        connectionId: req.connectionId,
      },
      async (trx) => {
        const { connection: c, instance } = await lockConnection(trx, req.orgId, req.connectionId);
        assertLockable(c, req);
        if (c.lock_saga_id === null) {
          await trx('integration_connection').withSchema(SCHEMA).where({ id: c.id }).update({
            lock_saga_id: req.sagaId,
            lock_purpose: req.purpose,
            locked_at: trx.fn.now(),
            updated_at: trx.fn.now(),
          });
        }
        return {
          connection: await loadConnection(trx, req.orgId, c.id),
          instance: await loadInstance(trx, req.orgId, instance.id),
        };
      },
    );
    return reply;
  };
}

/** Throws the CONFLICT that keeps `sagaId` from (re)taking the lock for `purpose`; returns when it may. */
function assertLockable(
  c: TConnectionRow,
  req: {
    sagaId: string;
    purpose: 'reconnect' | 'changeUser';
    expectedExternalAccountId?: string | null | undefined;
  },
): void {
  if (c.status === 'disconnecting') throw disconnectInProgress();
  if (c.status !== 'connected') {
    throw new AppError('CONFLICT', `connection is ${c.status}: nothing to reconnect`, {
      reason: 'not_connected',
      details: { status: c.status },
    });
  }
  if (c.lock_saga_id === null) {
    // The edge checked the authorization against the account it read then; another change of user may have
    // completed since, and the new tokens were never checked against that one.
    if (
      req.expectedExternalAccountId !== undefined &&
      req.expectedExternalAccountId !== c.external_account_id
    ) {
      throw new AppError(
        'CONFLICT',
        "the connection's account changed since this authorization was checked: authorize again",
        { reason: 'account_changed' },
      );
    }
    return;
  }
  if (c.lock_saga_id !== req.sagaId || c.lock_purpose !== req.purpose) {
    throw lockedBySaga(c);
  }
}

export const disconnectInProgress = (): AppError =>
  new AppError('CONFLICT', 'a disconnect of this connection is in progress', {
    reason: 'disconnecting',
  });

export const lockedBySaga = (c: Pick<TConnectionRow, 'lock_purpose'>): AppError =>
  new AppError('CONFLICT', `a ${c.lock_purpose ?? 'reconnect'} of this connection is in progress`, {
    reason: 'locked',
    details: { purpose: c.lock_purpose },
  });
