import type { Knex, MikroORM } from '@mikro-orm/postgresql';
import { AppError } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import { runConnectionCommandOnce } from '../store/command-once';
import {
  SCHEMA,
  liveConnections,
  loadConnection,
  loadInstance,
  lockConnection,
  toConnection,
  type TConnectionRow,
  type TInstanceRow,
} from '../store/connection.store';
import { alreadyDisconnecting } from './begin-disconnect.handler';

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
 */
export function completeDisconnectHandler(
  orm: MikroORM,
): THandler<'connection.connections.complete-disconnect'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    const { reply } = await runConnectionCommandOnce(
      knex,
      {
        key: req.idempotencyKey,
        subject: 'connection.connections.complete-disconnect',
        orgId: req.orgId,
        connectionId: req.connectionId,
      },
      async (trx) => {
        const { connection: c, instance } = await lockConnection(trx, req.orgId, req.connectionId);
        if (c.status === 'revoked' && c.disconnect_saga_id === req.sagaId) {
          // Done by this saga already (under another key): answer the state again, changing nothing.
          const inst = await loadInstance(trx, req.orgId, instance.id);
          return {
            connection: await loadConnection(trx, req.orgId, c.id),
            instance: inst,
            instanceRevoked:
              instance.status === 'revoked' || instance.previous_status === 'revoked',
            webhooksDisabled: 0,
            healthChecksStopped: !inst.healthChecksEnabled,
          };
        }
        if (c.status === 'disconnecting' && c.disconnect_saga_id !== req.sagaId) {
          throw alreadyDisconnecting();
        }
        if (c.status !== 'disconnecting') {
          throw new AppError('CONFLICT', `connection is ${c.status}, not disconnecting`, {
            reason: 'not_disconnecting',
            details: { status: c.status },
          });
        }
        const [revoked] = (await trx('integration_connection')
          .withSchema(SCHEMA)
          .where({ id: c.id })
          .update({
            status: 'revoked',
            revoked_at: trx.fn.now(),
            status_before_disconnect: null,
            updated_at: trx.fn.now(),
          })
          .returning('*')) as [TConnectionRow];
        const others = (await liveConnections(trx, instance.id)
          .whereNot('id', c.id)
          .select('status')) as { status: string }[];
        const keptConnected = others.some((o) => o.status !== 'pending');
        let webhooksDisabled = 0;
        if (!keptConnected) {
          webhooksDisabled = await retireInstance(trx, instance, others.length > 0);
        }
        const inst = await loadInstance(trx, req.orgId, instance.id);
        return {
          connection: toConnection(revoked),
          instance: inst,
          instanceRevoked: !keptConnected,
          webhooksDisabled,
          healthChecksStopped: !keptConnected,
        };
      },
    );
    return reply;
  };
}

/**
 * The instance revoked (or pending, remembering `revoked`, while a connect is mid-OAuth), its webhook endpoints
 * disabled, its health `unknown` with checks stopped — one statement. Returns how many endpoints it disabled.
 */
async function retireInstance(
  trx: Knex.Transaction,
  instance: TInstanceRow,
  connectPending: boolean,
): Promise<number> {
  const r = await trx.raw(
    `with inst as (
       update ${SCHEMA}.integration_instance
          set status = ?, previous_status = ?, updated_at = now()
        where id = ?),
     health as (
       update ${SCHEMA}.integration_health
          set status = 'unknown', checks_enabled = false, checked_at = null, next_check_at = null,
              detail = 'disconnected', updated_at = now()
        where instance_id = ?)
     update ${SCHEMA}.webhook_endpoint set status = 'disabled', updated_at = now()
      where instance_id = ? and status = 'enabled'
     returning id`,
    [
      connectPending ? 'pending' : 'revoked',
      connectPending ? 'revoked' : null,
      instance.id,
      instance.id,
      instance.id,
    ],
  );
  return (r as { rowCount: number | null }).rowCount ?? 0;
}
