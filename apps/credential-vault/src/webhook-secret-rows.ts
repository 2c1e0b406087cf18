import type { Knex } from '@mikro-orm/postgresql';
import type { Catalogue, TWebhookSignature } from '@otesse/providers';
import { VAULT_DB_SCHEMA } from './credential-records';
import { openWebhookSecret, sealWebhookSecret } from './crypto/envelope';
import type { MasterKeyRing } from './crypto/master-keys';

export const WEBHOOK_SECRET_TABLE = 'webhook_secret';
/** Replaced secrets still accepted for a while (see previous-webhook-secret.entity.ts). */
export const PREVIOUS_WEBHOOK_SECRET_TABLE = 'webhook_secret_previous';
/** The sealed columns a replaced secret moves with, unchanged. */
const SEALED_COLUMNS = 'org_id, vendor, ciphertext, iv, auth_tag, wrapped_data_key, key_id';

/** A webhook secret row as knex reads it (timestamptz come back as Date). */
export interface TWebhookSecretRow {
  instance_id: string;
  org_id: string;
  vendor: string;
  ciphertext: string;
  iv: string;
  auth_tag: string;
  wrapped_data_key: string;
  key_id: string;
  created_at: Date | string;
  updated_at: Date | string;
}

/** The catalogue's signature scheme for the vendor; undefined when it is unknown or signs no webhooks we check. */
export function webhookSignatureScheme(
  catalogue: Catalogue,
  vendor: string,
): TWebhookSignature | undefined {
  return catalogue.has(vendor) ? catalogue.get(vendor).webhooks?.signature : undefined;
}

/** A new row for the secret, encrypted (CPU only: before any round trip). */
export function sealWebhookSecretRow(
  keys: MasterKeyRing,
  req: { orgId: string; instanceId: string; vendor: string; secret: string },
  now: Date,
): TWebhookSecretRow {
  const sealed = sealWebhookSecret(
    keys,
    { orgId: req.orgId, instanceId: req.instanceId, vendor: req.vendor },
    req.secret,
  );
  return {
    instance_id: req.instanceId,
    org_id: req.orgId,
    vendor: req.vendor,
    ciphertext: sealed.ciphertext,
    iv: sealed.iv,
    auth_tag: sealed.authTag,
    wrapped_data_key: sealed.wrappedDataKey,
    key_id: sealed.keyId,
    created_at: now,
    updated_at: now,
  };
}

/** A replaced secret's row: the sealed columns as they were, and how long it stays accepted. */
export interface TPreviousWebhookSecretRow extends TWebhookSecretRow {
  expires_at: Date | string;
  last_used_at: Date | string | null;
  /** Read with the row, in the database's time: its last use is recorded within the resolution. */
  used_recently: boolean;
}

/**
 * Sets the instance's secret, in one transaction: when it replaces one and `keepPreviousSeconds` > 0, the replaced
 * one moves, sealed as it was, to the previous-secrets table, accepted until then (replacing any older previous
 * one); otherwise any previous one is destroyed. Never another org's: when the instance id already belongs to one,
 * nothing is written and undefined is returned. Expired previous secrets of every instance are purged on the way.
 * The grace is in the database's time, as every check of it: the replica that verifies a signature may not be the
 * one that set the secret, and their clocks may differ.
 */
export async function replaceWebhookSecret(
  db: Knex,
  row: TWebhookSecretRow,
  keepPreviousSeconds: number,
  now: Date,
): Promise<{ updatedAt: Date; previousValidUntil: Date | null } | undefined> {
  return db.transaction(async (trx) => {
    const current = (await trx(WEBHOOK_SECRET_TABLE)
      .withSchema(VAULT_DB_SCHEMA)
      .where({ instance_id: row.instance_id })
      .forUpdate()
      .first('org_id', 'vendor')) as { org_id: string; vendor: string } | undefined;
    if (current && current.org_id !== row.org_id) return undefined;
    await purgeExpiredPreviousSecrets(trx);
    let previousValidUntil: Date | null = null;
    if (current && keepPreviousSeconds > 0 && current.vendor === row.vendor) {
      const kept = await trx.raw<{ rows: { expires_at: Date }[] }>(
        `insert into "${VAULT_DB_SCHEMA}"."${PREVIOUS_WEBHOOK_SECRET_TABLE}"
           (instance_id, ${SEALED_COLUMNS}, created_at, updated_at, expires_at, last_used_at)
         select instance_id, ${SEALED_COLUMNS}, ?, ?, now() + ? * interval '1 second', null
           from "${VAULT_DB_SCHEMA}"."${WEBHOOK_SECRET_TABLE}" where instance_id = ?
         on conflict (instance_id) do update set
           (${SEALED_COLUMNS}, created_at, updated_at, expires_at, last_used_at) =
           (excluded.org_id, excluded.vendor, excluded.ciphertext, excluded.iv, excluded.auth_tag,
            excluded.wrapped_data_key, excluded.key_id, excluded.created_at, excluded.updated_at,
            excluded.expires_at, null)
         returning expires_at`,
        [now, now, keepPreviousSeconds, row.instance_id],
      );
      const until = kept.rows[0]?.expires_at;
      previousValidUntil = until === undefined ? null : new Date(until);
    } else {
      await trx(PREVIOUS_WEBHOOK_SECRET_TABLE)
        .withSchema(VAULT_DB_SCHEMA)
        .where({ instance_id: row.instance_id })
        .delete();
    }
    const written = await upsertWebhookSecret(trx, row);
    return written && { updatedAt: written.updatedAt, previousValidUntil };
  });
}

/** Destroys every previous secret past its grace. */
export async function purgeExpiredPreviousSecrets(db: Knex): Promise<number> {
  return db(PREVIOUS_WEBHOOK_SECRET_TABLE)
    .withSchema(VAULT_DB_SCHEMA)
    .where('expires_at', '<=', db.fn.now())
    .delete();
}

/** The org's instance's replaced secret, while it is still accepted. */
export async function findPreviousWebhookSecret(
  db: Knex,
  where: { orgId: string; instanceId: string },
): Promise<TPreviousWebhookSecretRow | undefined> {
  return (await db(PREVIOUS_WEBHOOK_SECRET_TABLE)
    .withSchema(VAULT_DB_SCHEMA)
    .where({ instance_id: where.instanceId, org_id: where.orgId })
    .where('expires_at', '>', db.fn.now())
    .first(
      '*',
      db.raw(
        `coalesce(last_used_at > now() - ? * interval '1 millisecond', false) as used_recently`,
        [PREVIOUS_SECRET_USE_RESOLUTION_MS],
      ),
    )) as TPreviousWebhookSecretRow | undefined;
}

/** Destroys the org's instance's replaced secret; whether one was still accepted. */
export async function expirePreviousWebhookSecret(
  db: Knex,
  where: { orgId: string; instanceId: string },
): Promise<boolean> {
  const gone = (await db(PREVIOUS_WEBHOOK_SECRET_TABLE)
    .withSchema(VAULT_DB_SCHEMA)
    .where({ instance_id: where.instanceId, org_id: where.orgId })
    .delete()
    .returning(db.raw('expires_at > now() as live'))) as { live: boolean }[];
  return gone.some((r) => r.live);
}

/**
 * Destroys the org's instance's secret and any replaced one, in one transaction; whether there was a secret.
 * Another org's instance id removes nothing.
 */
export async function removeWebhookSecret(
  db: Knex,
  where: { orgId: string; instanceId: string },
): Promise<boolean> {
  return db.transaction(async (trx) => {
    const key = { instance_id: where.instanceId, org_id: where.orgId };
    await trx(PREVIOUS_WEBHOOK_SECRET_TABLE).withSchema(VAULT_DB_SCHEMA).where(key).delete();
    const removed = await trx(WEBHOOK_SECRET_TABLE).withSchema(VAULT_DB_SCHEMA).where(key).delete();
    return removed > 0;
  });
}

/** How stale a previous secret's recorded last use may get: a provider still on it writes once a minute, not per delivery. */
export const PREVIOUS_SECRET_USE_RESOLUTION_MS = 60_000;

/**
 * Records that a delivery came signed with the replaced secret (the provider has not switched yet), unless the
 * row read for the check already says so within the resolution: no write per delivery on the receiving path. In
 * the database's time, as the dashboard shows it next to the grace: a replica's own clock may be off.
 */
export async function markPreviousWebhookSecretUsed(
  db: Knex,
  row: Pick<TPreviousWebhookSecretRow, 'instance_id' | 'used_recently'>,
): Promise<void> {
  if (row.used_recently) return;
  await db(PREVIOUS_WEBHOOK_SECRET_TABLE)
    .withSchema(VAULT_DB_SCHEMA)
    .where({ instance_id: row.instance_id })
    .update({ last_used_at: db.fn.now() });
}

/**
 * Inserts the row, or replaces the instance's secret in place (fresh data key, same created_at). Never another
 * org's: when the instance id already belongs to one, nothing is written and undefined is returned.
 */
export async function upsertWebhookSecret(
  db: Knex,
  row: TWebhookSecretRow,
): Promise<{ updatedAt: Date } | undefined> {
  const written = (await db(WEBHOOK_SECRET_TABLE)
    .withSchema(VAULT_DB_SCHEMA)
    .insert(row)
    .onConflict('instance_id')
    .merge(['vendor', 'ciphertext', 'iv', 'auth_tag', 'wrapped_data_key', 'key_id', 'updated_at'])
    .where(`${WEBHOOK_SECRET_TABLE}.org_id`, row.org_id)
    .returning(['updated_at'])) as { updated_at: Date }[];
  const [first] = written;
  return first ? { updatedAt: new Date(first.updated_at) } : undefined;
}

/** The instance's secret row, only if it is the org's. */
export async function findWebhookSecret(
  db: Knex,
  where: { orgId: string; instanceId: string },
): Promise<TWebhookSecretRow | undefined> {
  return (await db(WEBHOOK_SECRET_TABLE)
    .withSchema(VAULT_DB_SCHEMA)
    .where({ instance_id: where.instanceId, org_id: where.orgId })
    .first()) as TWebhookSecretRow | undefined;
}

/** Decrypts a row's secret (throws VaultCryptoError when it cannot be read, e.g. copied from another row). */
export function openWebhookSecretRow(keys: MasterKeyRing, r: TWebhookSecretRow): string {
  return openWebhookSecret(
    keys,
    { orgId: r.org_id, instanceId: r.instance_id, vendor: r.vendor },
    {
      ciphertext: r.ciphertext,
      iv: r.iv,
      authTag: r.auth_tag,
      wrappedDataKey: r.wrapped_data_key,
      keyId: r.key_id,
    },
  );
}
