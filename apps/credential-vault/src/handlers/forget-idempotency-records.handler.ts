import type { MikroORM } from '@mikro-orm/postgresql';
import { forgetIdempotencyRecords } from '@otesse/persistence';
import type { THandler } from '@otesse/messaging';
import { VAULT_DB_SCHEMA } from '../credential-records';

/** The edge released these saga keys (their saga ended long enough ago): their records are deleted. */
export function forgetIdempotencyRecordsHandler(
  orm: MikroORM,
): THandler<'vault.idempotency-records.forget'> {
  return async (req) => ({
    forgotten: await forgetIdempotencyRecords(
      orm.em.getConnection().getKnex(),
      VAULT_DB_SCHEMA,
      req.keys,
    ),
  });
}
