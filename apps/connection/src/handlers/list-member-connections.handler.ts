import type { MikroORM } from '@mikro-orm/postgresql';
import type { THandler } from '@otesse/messaging';
import { LIVE_CONNECTION_STATUSES } from '../entities';
import { SCHEMA, toConnection, type TConnectionRow } from '../store/connection.store';

/**
 * One page of the other members' live personal connections to a vendor, oldest first, keyed on (created_at, id):
 * a page costs the same on page 1 as on page 50. A cursor from another org or vendor finds no row and starts over
 * at nothing: an empty page.
 */
export function listMemberConnectionsHandler(
  orm: MikroORM,
): THandler<'connection.instances.member-connections'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    const q = knex('integration_connection as c')
      .withSchema(SCHEMA)
      .where({ 'c.org_id': req.orgId, 'c.vendor': req.vendor, 'c.level': 'user' })
      .whereIn('c.status', LIVE_CONNECTION_STATUSES)
      .whereNot('c.user_id', req.exceptUserId);
    if (req.after !== undefined) {
      // The cursor's own row must be this org's and vendor's; its position, not its status, matters.
      q.whereRaw(
        `(c.created_at, c.id) > (select a.created_at, a.id from ??.integration_connection a
            where a.id = ? and a.org_id = ? and a.vendor = ?)`,
        [SCHEMA, req.after, req.orgId, req.vendor],
      );
    }
    const rows = (await q
      .orderBy([{ column: 'c.created_at' }, { column: 'c.id' }])
      .limit(req.limit + 1)
      .select('c.*')) as TConnectionRow[];
    const page = rows.slice(0, req.limit);
    return {
      connections: page.map(toConnection),
      nextAfter: rows.length > req.limit ? (page.at(-1)?.id ?? null) : null,
    };
  };
}
