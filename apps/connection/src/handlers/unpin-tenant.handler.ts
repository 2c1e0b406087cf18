import type { MikroORM } from '@mikro-orm/postgresql';
import { AppError } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import { runInstanceCommandOnce } from '../store/command-once';
import { SCHEMA, loadInstance, lockInstanceOfOrg } from '../store/connection.store';

/**
 * Unlink saga step 3 (after the synced data was erased), only while this saga holds the instance: in one transaction
 * the pin is cleared (`tenant_id` null, `config.site` removed — the Atlassian site is the tenant; the subdomain is
 * kept), `tenant_unlinked_at` set (connections created before it no longer name the instance's site) and the hold
 * lifted. CONFLICT `not_held` (nothing stored) when this saga does not hold the instance. Idempotent by key: a replay
 * answers the first reply.
 */
export function unpinTenantHandler(orm: MikroORM): THandler<'connection.instances.unpin-tenant'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    const { reply } = await runInstanceCommandOnce(
      knex,
      {
        key: req.idempotencyKey,
        subject: 'connection.instances.unpin-tenant',
        orgId: req.orgId,
        instanceId: req.instanceId,
      },
      async (trx) => {
        const row = await lockInstanceOfOrg(trx, req.orgId, req.instanceId);
        if (row.unlink_saga_id !== req.sagaId) {
          throw new AppError('CONFLICT', 'this unlink does not hold the integration', {
            reason: 'not_held',
          });
        }
        // A hold is only taken on a pinned instance, and nothing clears the pin but this.
        const previousTenantId = row.tenant_id;
        if (previousTenantId === null) throw new Error(`held instance ${row.id} has no tenant`);
        const { site: _site, ...config } = row.config;
        await trx('integration_instance')
          .withSchema(SCHEMA)
          .where({ id: row.id })
          .update({
            tenant_id: null,
            config: JSON.stringify(config),
            tenant_unlinked_at: trx.fn.now(),
            unlink_saga_id: null,
            updated_at: trx.fn.now(),
          });
        const instance = await loadInstance(trx, req.orgId, row.id);
        if (instance.tenantUnlinkedAt == null) throw new Error(`instance ${row.id} not unlinked`);
        return { instance, previousTenantId, unlinkedAt: instance.tenantUnlinkedAt };
      },
    );
    return reply;
  };
}
