import type { Knex, MikroORM } from '@mikro-orm/postgresql';
import type { THandler } from '@otesse/messaging';
import { VAULT_DB_SCHEMA, withSafeDbErrors } from '../credential-records';
import {
  rewrapDataKey,
  rewrapWebhookSecretKey,
  VaultCryptoError,
  type TWrappedDataKey,
} from '../crypto/envelope';
import type { MasterKeyRing } from '../crypto/master-keys';
import {
  PREVIOUS_WEBHOOK_SECRET_TABLE,
  purgeExpiredPreviousSecrets,
  WEBHOOK_SECRET_TABLE,
} from '../webhook-secret-rows';
import type { TVaultDeps } from './deps';

/** Rows re-wrapped per transaction: short locks, bounded memory. */
export const REWRAP_BATCH = 500;

/** A table of envelope-encrypted rows: which of its rows are live, and how each row's data key is bound. */
interface TSealedTable {
  table: string;
  /** The row's key column; also what its data key is bound to. */
  idColumn: string;
  /** Narrows a query to rows that still hold a value. */
  live: (q: Knex.QueryBuilder) => Knex.QueryBuilder;
  rewrap: (keys: MasterKeyRing, id: string, wrapped: TWrappedDataKey) => TWrappedDataKey;
  /** How a row that failed to re-wrap is named in `failedIds`. */
  failedId: (id: string) => string;
}

/** Every table whose data keys the master keys wrap: credentials, and instances' webhook secrets. */
const SEALED_TABLES: readonly TSealedTable[] = [
  {
    table: 'credential',
    idColumn: 'id',
    live: (q) => q.where('is_deleted', false),
    rewrap: rewrapDataKey,
    failedId: (id) => id,
  },
  {
    table: WEBHOOK_SECRET_TABLE,
    idColumn: 'instance_id',
    // Never destroyed, only replaced: every row holds a secret.
    live: (q) => q,
    rewrap: rewrapWebhookSecretKey,
    failedId: (id) => `webhook-secret:${id}`,
  },
  {
    // Replaced secrets in their grace: sealed exactly as they were (bound to the instance like the current one).
    // Expired ones are purged before the pass, so every row left holds an accepted secret.
    table: PREVIOUS_WEBHOOK_SECRET_TABLE,
    idColumn: 'instance_id',
    live: (q) => q,
    rewrap: rewrapWebhookSecretKey,
    failedId: (id) => `previous-webhook-secret:${id}`,
  },
];

/**
 * Re-wraps, batch by batch (one transaction each, rows locked), every live data key under a known non-active
 * master key, in every sealed table. Values are never decrypted: only the 32-byte data keys are. A data key that
 * fails to unwrap is left alone and reported (`failedIds`: credential ids, then `webhook-secret:<instanceId>` and
 * `previous-webhook-secret:<instanceId>`). Replaced webhook secrets past their grace are destroyed first.
 * Safe to run concurrently and to re-run.
 */
export async function rewrapDataKeys(
  orm: MikroORM,
  keys: MasterKeyRing,
): Promise<{ rewrapped: number; failedIds: string[] }> {
  let rewrapped = 0;
  const failedIds: string[] = [];
  await purgeExpiredPreviousSecrets(orm.em.getConnection().getKnex());
  for (const t of SEALED_TABLES) {
    const r = await rewrapTable(orm, keys, t);
    rewrapped += r.rewrapped;
    failedIds.push(...r.failedIds.map(t.failedId));
  }
  return { rewrapped, failedIds };
}

async function rewrapTable(
  orm: MikroORM,
  keys: MasterKeyRing,
  t: TSealedTable,
): Promise<{ rewrapped: number; failedIds: string[] }> {
  const knex = orm.em.getConnection().getKnex();
  const oldKeyIds = keys.keyIds().filter((id) => id !== keys.active.keyId);
  const failed = new Set<string>();
  let rewrapped = 0;
  if (oldKeyIds.length === 0) return { rewrapped, failedIds: [] };
  for (;;) {
    const done = await knex.transaction(async (trx) => {
      const q = t
        .live(trx(t.table).withSchema(VAULT_DB_SCHEMA))
        .whereIn('key_id', oldKeyIds)
        .whereNot('wrapped_data_key', '');
      if (failed.size) q.whereNotIn(t.idColumn, [...failed]);
      // Without SKIP LOCKED: a concurrent writer is waited for, and its row re-checked, never missed.
      const rows = (await q
        .orderBy(t.idColumn)
        .limit(REWRAP_BATCH)
        .forUpdate()
        .select({ id: t.idColumn }, 'key_id', 'wrapped_data_key')) as {
        id: string;
        key_id: string;
        wrapped_data_key: string;
      }[];
      const updates: { id: string; wrappedDataKey: string; keyId: string }[] = [];
      for (const r of rows) {
        try {
          updates.push({
            id: r.id,
            ...t.rewrap(keys, r.id, { wrappedDataKey: r.wrapped_data_key, keyId: r.key_id }),
          });
        } catch (e) {
          if (!(e instanceof VaultCryptoError)) throw e;
          failed.add(r.id);
        }
      }
      if (updates.length) {
        await trx.raw(
          `update "${VAULT_DB_SCHEMA}"."${t.table}" as c
              set wrapped_data_key = v.wrapped_data_key, key_id = v.key_id, updated_at = ?
             from (values ${updates.map(() => '(?::uuid, ?, ?)').join(', ')})
               as v(id, wrapped_data_key, key_id)
            where c."${t.idColumn}" = v.id`,
          [new Date(), ...updates.flatMap((u) => [u.id, u.wrappedDataKey, u.keyId])],
        );
      }
      rewrapped += updates.length;
      return rows.length === 0;
    });
    if (done) return { rewrapped, failedIds: [...failed] };
  }
}

/** Live rows of every sealed table still under another key than the active one, by key id. */
async function leftoversByKeyId(orm: MikroORM, activeKeyId: string): Promise<Map<string, number>> {
  const knex = orm.em.getConnection().getKnex();
  const byKeyId = new Map<string, number>();
  for (const t of SEALED_TABLES) {
    const rows = (await t
      .live(knex(t.table).withSchema(VAULT_DB_SCHEMA))
      .whereNot('key_id', activeKeyId)
      .groupBy('key_id')
      .select('key_id')
      .count({ n: '*' })) as { key_id: string; n: string | number }[];
    for (const r of rows) byKeyId.set(r.key_id, (byKeyId.get(r.key_id) ?? 0) + Number(r.n));
  }
  return byKeyId;
}

/**
 * `vault.keys.rotate`: re-wrap under the active key, then count what is still under another key. Webhook secrets
 * are data keys like credentials': both are re-wrapped, and both count in `rewrapped` and `remaining`.
 */
export function rotateKeysHandler(
  deps: Pick<TVaultDeps, 'orm' | 'keys' | 'logger'>,
): THandler<'vault.keys.rotate'> {
  return async (_req, ctx) => {
    const { rewrapped, failedIds } = await withSafeDbErrors(deps.logger, 'rotating keys', () =>
      rewrapDataKeys(deps.orm, deps.keys),
    );
    const leftovers = await leftoversByKeyId(deps.orm, deps.keys.active.keyId);
    const remaining = [...leftovers.values()].reduce((sum, n) => sum + n, 0);
    const log = { activeKeyId: deps.keys.active.keyId, rewrapped, remaining, traceId: ctx.traceId };
    if (remaining > 0) {
      deps.logger.warn(
        {
          ...log,
          byKeyId: Object.fromEntries(leftovers),
          failedIds,
        },
        'some credentials or webhook secrets are still under a non-active master key (key missing from the ring, or corrupt)',
      );
    } else {
      deps.logger.info(log, 'master key rotation done');
    }
    return { activeKeyId: deps.keys.active.keyId, rewrapped, remaining };
  };
}
