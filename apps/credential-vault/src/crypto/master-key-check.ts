import type { Knex } from '@mikro-orm/postgresql';
import { AppError } from '@otesse/contracts';
import { VAULT_DB_SCHEMA } from '../credential-records';
import { openRow, type TTokenRow } from '../token-rows';
import { openWebhookSecretRow, type TWebhookSecretRow } from '../webhook-secret-rows';
import type { MasterKeyRing } from './master-keys';

/** Rows tried per master key id: one damaged row must not stop the start, a wrong key fails them all. */
const SAMPLES_PER_KEY = 3;

/**
 * Refuses a key ring that cannot open what is stored: a key id the data uses that VAULT_MASTER_KEY lacks (an old
 * key removed before its rotation finished), or a key under an id the data uses that opens none of its samples (a
 * key regenerated under the same id). Either way the vault would start "ready" and then fail every read of those
 * credentials (`decrypt_failed`) — and a vault that seals new ones meanwhile buries the mistake deeper.
 */
export async function checkMasterKeysOpenStoredData(
  knex: Knex,
  keys: MasterKeyRing,
): Promise<{ keyIdsChecked: string[] }> {
  // Per key id, its newest rows, read key id by key id (a loose index scan for the ids, then a few rows each) through
  // credential_key_sample_idx: the start reads a handful of rows, not every credential sorted. The walk orders by
  // (key_id, created_at) so that index (live rows only) serves it: credential_key_id_idx would have it step over
  // destroyed rows, which are kept, to find live ones. Newest by creation, not by update: an index on updated_at
  // would make every token refresh update it.
  const credentials = (
    (await knex.raw(
      `with recursive k(key_id) as (
         (select c.key_id from ${VAULT_DB_SCHEMA}.credential c
           where c.is_deleted = false order by c.key_id, c.created_at limit 1)
         union all
         select (select c.key_id from ${VAULT_DB_SCHEMA}.credential c
                  where c.is_deleted = false and c.key_id > k.key_id
                  order by c.key_id, c.created_at limit 1)
           from k where k.key_id is not null)
       select s.* from k cross join lateral (
         select c.*, now() as db_now from ${VAULT_DB_SCHEMA}.credential c
          where c.key_id = k.key_id and c.is_deleted = false and c.wrapped_data_key <> ''
          order by c.created_at desc limit ?) s`,
      [SAMPLES_PER_KEY],
    )) as { rows: TTokenRow[] }
  ).rows;
  // Webhook secrets (one per instance, never soft-deleted): the same walk on webhook_secret_key_id_idx.
  const secrets = (
    (await knex.raw(
      `with recursive k(key_id) as (
         (select w.key_id from ${VAULT_DB_SCHEMA}.webhook_secret w order by w.key_id limit 1)
         union all
         select (select w.key_id from ${VAULT_DB_SCHEMA}.webhook_secret w
                  where w.key_id > k.key_id order by w.key_id limit 1)
           from k where k.key_id is not null)
       select s.* from k cross join lateral (
         select w.* from ${VAULT_DB_SCHEMA}.webhook_secret w
          where w.key_id = k.key_id order by w.updated_at desc limit ?) s`,
      [SAMPLES_PER_KEY],
    )) as { rows: TWebhookSecretRow[] }
  ).rows;
  // Per key id the data uses, a few ways to prove the ring's key is the one it was sealed with.
  const samples = new Map<string, (() => unknown)[]>();
  const sample = (keyId: string, open: () => unknown) =>
    samples.set(keyId, [...(samples.get(keyId) ?? []), open]);
  for (const r of credentials) sample(r.key_id, () => openRow(keys, r));
  for (const r of secrets) sample(r.key_id, () => openWebhookSecretRow(keys, r));
  const opens = (open: () => unknown): boolean => {
    try {
      open();
      return true;
    } catch {
      return false;
    }
  };
  const missing = [...samples.keys()].filter((id) => !keys.get(id));
  const wrong = [...samples.entries()]
    .filter(([id, tries]) => keys.get(id) && !tries.some(opens))
    .map(([id]) => id);
  if (missing.length > 0 || wrong.length > 0) {
    const why = [
      ...(missing.length > 0
        ? [
            `stored credentials are sealed under master key ${missing.join(', ')}, which VAULT_MASTER_KEY does not hold (keep a retired key in the list until \`vault.keys.rotate\` has moved everything off it)`,
          ]
        : []),
      ...(wrong.length > 0
        ? [
            `VAULT_MASTER_KEY's ${wrong.join(', ')} opens none of the credentials sealed under that id: it is not the key they were sealed with (a key generated again under the same id?)`,
          ]
        : []),
    ];
    throw new AppError('PRECONDITION_FAILED', `refusing to start: ${why.join('; ')}`, {
      reason: 'master_key_mismatch',
      details: { missingKeyIds: missing, wrongKeyIds: wrong },
    });
  }
  return { keyIdsChecked: [...samples.keys()] };
}
