import type { MikroORM } from '@mikro-orm/postgresql';
import type { THandler } from '@otesse/messaging';
import { claimForwardKey, forwardKeyOf } from '@otesse/persistence';
import { runInstanceCommandOnce } from '../store/command-once';
import { SCHEMA, loadInstance, lockInstanceOfOrg } from '../store/connection.store';
import { fillSettledReply } from '../store/settle-forward';

/**
 * Compensation of hold-for-unlink: lifts the hold only when this saga holds the instance (`released: true`); anything
 * else (never held, already lifted or unpinned, another saga's hold) is left alone, `released: false`: a
 * compensation must always succeed and must never undo someone else's work. Idempotent by key; NOT_FOUND for an
 * instance not of the org (nothing settled).
 *
 * As the hold step's compensation (`<sagaId>:hold:compensate`) it settles the hold's key `<sagaId>:hold` first, in
 * its transaction, with a reply that held nothing: a hold in flight (it claims its key first, runOnce) is waited for
 * and lifted below; one that comes later replays that reply instead of holding for a saga that has ended.
 */
export function cancelUnlinkHandler(orm: MikroORM): THandler<'connection.instances.cancel-unlink'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    const { reply } = await runInstanceCommandOnce(
      knex,
      {
        key: req.idempotencyKey,
        subject: 'connection.instances.cancel-unlink',
        orgId: req.orgId,
        instanceId: req.instanceId,
      },
      async (trx) => {
        // Before the row lock: a hold in flight holds its key and then waits for it.
        const forwardKey = forwardKeyOf(req, ['hold']);
        const settled =
          forwardKey !== undefined &&
          (await claimForwardKey(trx, {
            schema: SCHEMA,
            key: forwardKey,
            subject: 'connection.instances.hold-for-unlink',
          }));
        const row = await lockInstanceOfOrg(trx, req.orgId, req.instanceId);
        const released = row.unlink_saga_id === req.sagaId;
        if (released) {
          await trx('integration_instance')
            .withSchema(SCHEMA)
            .where({ id: row.id, unlink_saga_id: req.sagaId })
            .update({ unlink_saga_id: null });
        }
        if (settled) {
          // The reply of a hold that held nothing (the ended connections are not its to count).
          await fillSettledReply(trx, forwardKey, req, {
            instance: await loadInstance(trx, req.orgId, row.id),
            endedConnections: 0,
          });
        }
        return { released };
      },
    );
    return reply;
  };
}
