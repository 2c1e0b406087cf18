import type { MikroORM } from '@mikro-orm/postgresql';
import { AppError, type TReplyOf } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import { queryPrepared } from '@otesse/persistence';

type TReply = TReplyOf<'connection.connections.get'>;

/**
 * The connection and its instance in one prepared statement (every saga and the vault's refresher ask for it):
 * `connection_json` / `instance_json` give exactly `toConnection` / `toInstance`'s shape (migration
 * `disconnect_functions`). NOT_FOUND for a missing connection and for another org's alike: ids never leak across
 * orgs.
 */
export function getConnectionHandler(orm: MikroORM): THandler<'connection.connections.get'> {
  return async (req) => {
    const { rows } = await queryPrepared<{
      connection: TReply['connection'];
      instance: TReply['instance'] | null;
    }>(
      orm.em.getConnection().getKnex(),
      'connection.get',
      `select "connection".connection_json(c) as connection, "connection".instance_json(c.instance_id) as instance
         from "connection".integration_connection c
        where c.org_id = $1 and c.id = $2`,
      [req.orgId, req.connectionId],
    );
    const row = rows[0];
    if (!row) throw new AppError('NOT_FOUND', 'connection not found');
    if (!row.instance) throw new AppError('NOT_FOUND', 'instance not found');
    return { connection: row.connection, instance: row.instance };
  };
}
