import type { MikroORM } from '@mikro-orm/postgresql';
import { forgetIdempotencyRecords } from '@otesse/persistence';
import type { THandler } from '@otesse/messaging';
import { SYNC_SCHEMA_NAME } from '../sync-job.rows';

/** The edge released these saga keys (their saga ended long enough ago): their records are deleted. */
export function forgetIdempotencyRecordsHandler(
  orm: MikroORM,
): THandler<'sync-scheduler.idempotency-records.forget'> {
  return async (req) => ({
    forgotten: await forgetIdempotencyRecords(
      orm.em.getConnection().getKnex(),
      SYNC_SCHEMA_NAME,
      req.keys,
    ),
  });
}
