import type { MikroORM } from '@mikro-orm/postgresql';
import { AppError } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import { runInstanceCommandOnce } from '../store/command-once';
import {
  SCHEMA,
  liveConnections,
  loadInstance,
  lockInstanceOfOrg,
  revokingHolder,
} from '../store/connection.store';
import { disconnectInProgress, unlinkInProgress } from './create-connection.handler';

/** The statuses of an instance's ended connections: kept as history by an unlink. */
const ENDED = ['revoked', 'error'] as const;

/**
 * Unlink saga step 1: holds the org's instance for this saga (`unlink_saga_id`), under its row lock, so nothing of it
 * becomes live (create and configure answer CONFLICT `unlink_in_progress`) until the unpin or the compensation.
 * Refused with nothing stored (a retry evaluates it again): NOT_FOUND, PRECONDITION_FAILED `not_pinned` /
 * `tenant_changed`, CONFLICT `disconnect_in_progress` / `unlink_in_progress` / `instance_in_use` ({live}).
 * The same saga again (another key) answers its hold. Idempotent by key: a replay answers the first reply (the one
 * cancel-unlink settled, which held nothing, when the compensation came first).
 */
export function holdForUnlinkHandler(
  orm: MikroORM,
): THandler<'connection.instances.hold-for-unlink'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    const { reply } = await runInstanceCommandOnce(
      knex,
      {
        key: req.idempotencyKey,
        subject: 'connection.instances.hold-for-unlink',
        orgId: req.orgId,
        instanceId: req.instanceId,
      },
      async (trx) => {
        const row = await lockInstanceOfOrg(trx, req.orgId, req.instanceId);
        if (row.unlink_saga_id !== req.sagaId) {
          if (row.tenant_id === null) {
            throw new AppError(
              'PRECONDITION_FAILED',
              'this integration is not linked to a provider organization',
              { reason: 'not_pinned' },
            );
          }
          if (row.tenant_id !== req.expectedTenantId) {
            throw new AppError(
              'PRECONDITION_FAILED',
              'this integration is linked to another provider organization than the one confirmed',
              { reason: 'tenant_changed' },
            );
          }
          const holder = await revokingHolder(trx, row);
          if (holder) throw disconnectInProgress({ id: holder.id, status: 'disconnecting' });
          if (row.unlink_saga_id !== null) throw unlinkInProgress();
          const [{ live } = { live: 0 }] = (await liveConnections(trx, row.id).count({
            live: '*',
          })) as { live: string | number }[];
          if (Number(live) > 0) {
            throw new AppError(
              'CONFLICT',
              'disconnect every connection of this integration before unlinking it',
              { reason: 'instance_in_use', details: { live: Number(live) } },
            );
          }
          await trx('integration_instance')
            .withSchema(SCHEMA)
            .where({ id: row.id })
            .update({ unlink_saga_id: req.sagaId });
        }
        const [{ ended } = { ended: 0 }] = (await trx('integration_connection')
          .withSchema(SCHEMA)
          .where('instance_id', row.id)
          .whereIn('status', [...ENDED])
          .count({ ended: '*' })) as { ended: string | number }[];
        return {
          instance: await loadInstance(trx, req.orgId, row.id),
          endedConnections: Number(ended),
        };
      },
    );
    return reply;
  };
}
