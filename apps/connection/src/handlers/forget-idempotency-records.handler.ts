import type { MikroORM } from '@mikro-orm/postgresql';
import { forgetIdempotencyRecords } from '@otesse/persistence';
import type { THandler } from '@otesse/messaging';
import { SCHEMA } from '../store/connection.store';

/** The edge released these saga keys (their saga ended long enough ago): their records are deleted. */
export function forgetIdempotencyRecordsHandler(
  orm: MikroORM,
): THandler<'connection.idempotency-records.forget'> {
  return async (req) => ({
    forgotten: await forgetIdempotencyRecords(orm.em.getConnection().getKnex(), SCHEMA, req.keys),
  });
}
