import type { MikroORM } from '@mikro-orm/postgresql';
import type { THandler } from '@otesse/messaging';
import { VAULT_DB_SCHEMA, withSafeDbErrors } from '../credential-records';
import { rewrapDataKey, VaultCryptoError } from '../crypto/envelope';
import type { MasterKeyRing } from '../crypto/master-keys';
import type { TVaultDeps } from './deps';

/** Rows re-wrapped per transaction: short locks, bounded memory. */
export const REWRAP_BATCH = 500;

/**
 * Re-wraps, batch by batch (one transaction each, rows locked), every live data key under a known non-active
 * master key. Values are never decrypted: only the 32-byte data keys are. A data key that fails to unwrap is
 * left alone and reported. Safe to run concurrently and to re-run.
 */
export async function rewrapDataKeys(
  orm: MikroORM,
  keys: MasterKeyRing,
): Promise<{ rewrapped: number; failedIds: string[] }> {
  const knex = orm.em.getConnection().getKnex();
  const oldKeyIds = keys.keyIds().filter((id) => id !== keys.active.keyId);
  const failed = new Set<string>();
  let rewrapped = 0;
  if (oldKeyIds.length === 0) return { rewrapped, failedIds: [] };
  for (;;) {
    const done = await knex.transaction(async (trx) => {
      const q = trx('credential')
        .withSchema(VAULT_DB_SCHEMA)
        .where('is_deleted', false)
        .whereIn('key_id', oldKeyIds)
        .whereNot('wrapped_data_key', '');
      if (failed.size) q.whereNotIn('id', [...failed]);
      // Without SKIP LOCKED: a concurrent writer is waited for, and its row re-checked, never missed.
      const rows = (await q
        .orderBy('id')
        .limit(REWRAP_BATCH)
        .forUpdate()
        .select('id', 'key_id', 'wrapped_data_key')) as {
        id: string;
        key_id: string;
        wrapped_data_key: string;
      }[];
      const updates: { id: string; wrappedDataKey: string; keyId: string }[] = [];
      for (const r of rows) {
        try {
          updates.push({
            id: r.id,
            ...rewrapDataKey(keys, r.id, { wrappedDataKey: r.wrapped_data_key, keyId: r.key_id }),
          });
        } catch (e) {
          if (!(e instanceof VaultCryptoError)) throw e;
          failed.add(r.id);
        }
      }
      if (updates.length) {
        await trx.raw(
          `update "${VAULT_DB_SCHEMA}"."credential" as c
              set wrapped_data_key = v.wrapped_data_key, key_id = v.key_id, updated_at = ?
             from (values ${updates.map(() => '(?::uuid, ?, ?)').join(', ')})
               as v(id, wrapped_data_key, key_id)
            where c.id = v.id`,
          [new Date(), ...updates.flatMap((u) => [u.id, u.wrappedDataKey, u.keyId])],
        );
      }
      rewrapped += updates.length;
      return rows.length === 0;
    });
    if (done) return { rewrapped, failedIds: [...failed] };
  }
}

/** `vault.keys.rotate`: re-wrap under the active key, then count what is still under another key. */
export function rotateKeysHandler(
  deps: Pick<TVaultDeps, 'orm' | 'keys' | 'logger'>,
): THandler<'vault.keys.rotate'> {
  return async (_req, ctx) => {
    const { rewrapped, failedIds } = await withSafeDbErrors(deps.logger, 'rotating keys', () =>
      rewrapDataKeys(deps.orm, deps.keys),
    );
    const leftovers = (await deps.orm.em
      .getConnection()
      .getKnex()('credential')
      .withSchema(VAULT_DB_SCHEMA)
      .where('is_deleted', false)
      .whereNot('key_id', deps.keys.active.keyId)
      .groupBy('key_id')
      .select('key_id')
      .count({ n: '*' })) as { key_id: string; n: string | number }[];
    const remaining = leftovers.reduce((sum, r) => sum + Number(r.n), 0);
    const log = { activeKeyId: deps.keys.active.keyId, rewrapped, remaining, traceId: ctx.traceId };
    if (remaining > 0) {
      deps.logger.warn(
        {
          ...log,
          byKeyId: Object.fromEntries(leftovers.map((r) => [r.key_id, Number(r.n)])),
          failedIds,
        },
        'some credentials are still under a non-active master key (key missing from the ring, or corrupt)',
      );
    } else {
      deps.logger.info(log, 'master key rotation done');
    }
    return { activeKeyId: deps.keys.active.keyId, rewrapped, remaining };
  };
}
