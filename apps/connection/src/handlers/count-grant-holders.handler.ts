import type { MikroORM } from '@mikro-orm/postgresql';
import type { THandler } from '@otesse/messaging';
import { LIVE_CONNECTION_STATUSES } from '../entities';
import { SCHEMA } from '../store/connection.store';

/**
 * The live connections holding an external account's grant at a vendor, counted across orgs (the deployment's one
 * OAuth client per vendor makes it one grant): whether revoking a token of that account would end a grant still in
 * use. One probe of `integration_connection_account_idx`; only counts are answered.
 */
export function countGrantHoldersHandler(
  orm: MikroORM,
): THandler<'connection.accounts.grant-holders'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    const q = knex
      .withSchema(SCHEMA)
      .from('integration_connection')
      .where({ vendor: req.vendor, external_account_id: req.externalAccountId })
      .whereIn('status', LIVE_CONNECTION_STATUSES)
      .select('status')
      .count({ n: '*' })
      .groupBy('status');
    if (req.exceptConnectionId !== undefined) q.whereNot('id', req.exceptConnectionId);
    const rows = (await q) as { status: string; n: string | number }[];
    const of = (status: string): number => Number(rows.find((r) => r.status === status)?.n ?? 0);
    return {
      holders: {
        pending: of('pending'),
        connected: of('connected'),
        disconnecting: of('disconnecting'),
      },
    };
  };
}
