import type { MikroORM } from '@mikro-orm/postgresql';
import { AppError, STALE_PENDING_CONNECTION_MS, type TInstanceConfig } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import {
  SCHEMA,
  loadInstance,
  lockOrCreateInstance,
  type TInstanceRow,
} from '../store/connection.store';
import { databaseTimeIn } from '@otesse/persistence';
import { unlinkInProgress } from './create-connection.handler';

/**
 * Create-or-update the org's instance config (the request's config replaces the stored one). The subdomain picks
 * the host tokens and codes go to, so it can't change under a connected instance, nor under a connect in flight;
 * the site (Atlassian) is the one every connection of the instance is on, so it can't change under a connected one,
 * nor ever move off the tenant the instance is pinned to. Nothing is saved while an unlink saga holds the instance
 * (`unlink_in_progress`).
 */
export function configureInstanceHandler(
  orm: MikroORM,
  /** A pending connect older than this (PENDING_CONNECT_STALE_MS) is no connect in progress. */
  staleAfterMs: number = STALE_PENDING_CONNECTION_MS,
): THandler<'connection.instances.configure'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    return knex.transaction(async (trx) => {
      const { row, created } = await lockOrCreateInstance(trx, {
        orgId: req.orgId,
        vendor: req.vendor,
        config: req.config,
      });
      // The unlink saga holding the instance clears its site with its pin: no config is saved meanwhile.
      if (row.unlink_saga_id !== null) throw unlinkInProgress();
      if (!created && !sameConfig(row, req.config)) {
        const siteChanges = row.config.site !== req.config.site;
        const subdomainChanges = row.config.subdomain !== req.config.subdomain;
        // Every connection of an instance is on its site and host: a live one keeps them until the instance is
        // disconnected.
        if ((siteChanges || subdomainChanges) && row.status === 'connected') {
          throw new AppError(
            'CONFLICT',
            `disconnect the integration before changing its ${siteChanges ? 'site' : 'subdomain'}`,
            { reason: 'instance_connected' },
          );
        }
        // The site, or the subdomain's host (ServiceNow, Zendesk), is the tenant whose data the instance holds: once
        // pinned, it stays even after a disconnect (the data is kept). Choosing the pinned site again is allowed.
        const movesSite = req.config.site !== undefined && req.config.site !== row.tenant_id;
        const movesHost = subdomainChanges && row.config.subdomain !== undefined;
        if (row.tenant_id !== null && ((siteChanges && movesSite) || movesHost)) {
          throw new AppError(
            'CONFLICT',
            `the integration's synced data is of its current ${movesHost ? 'subdomain' : 'site'}; it cannot move to another`,
            { reason: 'tenant_pinned' },
          );
        }
        if (subdomainChanges) {
          const inFlight = await trx('integration_connection')
            .withSchema(SCHEMA)
            .where({ instance_id: row.id, status: 'pending' })
            .andWhere('created_at', '>=', databaseTimeIn(trx, -staleAfterMs))
            .first('id');
          if (inFlight) {
            throw new AppError(
              'CONFLICT',
              'a connect is in progress against the current subdomain',
              {
                reason: 'connect_in_progress',
              },
            );
          }
        }
        await trx('integration_instance')
          .withSchema(SCHEMA)
          .where({ id: row.id })
          .update({ config: JSON.stringify(req.config), updated_at: trx.fn.now() });
      }
      return { instance: await loadInstance(trx, req.orgId, row.id) };
    });
  };
}

function sameConfig(row: TInstanceRow, config: TInstanceConfig): boolean {
  return JSON.stringify(row.config) === JSON.stringify(config);
}
