import type { MikroORM } from '@mikro-orm/postgresql';
import type { THandler } from '@otesse/messaging';
import { LIVE_CONNECTION_STATUSES } from '../entities';
import { loadConnection, loadInstance, SCHEMA } from '../store/connection.store';

/**
 * The live connections that keep a connection's instance connected without it: the org's, the viewer's own, and the
 * other members' counted, a few of them named. Counted in the database (one instance may have a connection per
 * member), never listed whole.
 */
export function listKeepersHandler(orm: MikroORM): THandler<'connection.instances.keepers'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    // Another org's connection: NOT_FOUND, like a missing one.
    const connection = await loadConnection(knex, req.orgId, req.connectionId);
    const others = () =>
      knex('integration_connection')
        .withSchema(SCHEMA)
        .where({ org_id: req.orgId, instance_id: connection.instanceId })
        .whereIn('status', LIVE_CONNECTION_STATUSES)
        .whereNot('id', connection.id);
    const [instance, [counts], sample] = await Promise.all([
      loadInstance(knex, req.orgId, connection.instanceId),
      others().select(
        knex.raw(`count(*) filter (where level = 'app') as organization`),
        knex.raw(`count(*) filter (where level = 'user' and user_id = ?) as yours`, [
          req.viewerUserId,
        ]),
        knex.raw(`count(*) filter (where level = 'user' and user_id <> ?) as members`, [
          req.viewerUserId,
        ]),
      ) as Promise<{ organization: string; yours: string; members: string }[]>,
      req.sample > 0
        ? (others()
            .where('level', 'user')
            .whereNot('user_id', req.viewerUserId)
            .orderBy([{ column: 'created_at' }, { column: 'id' }])
            .limit(req.sample)
            .select('user_id') as Promise<{ user_id: string }[]>)
        : Promise.resolve([]),
    ]);
    return {
      instance,
      organization: Number(counts?.organization ?? 0) > 0,
      yours: Number(counts?.yours ?? 0) > 0,
      members: Number(counts?.members ?? 0),
      memberUserIds: sample.map((r) => r.user_id),
    };
  };
}
