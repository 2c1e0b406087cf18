import type { Knex } from '@mikro-orm/postgresql';
import type { Catalogue, TWebhookSignature } from '@otesse/providers';
import { VAULT_DB_SCHEMA } from './credential-records';
import { openWebhookSecret, sealWebhookSecret } from './crypto/envelope';
import type { MasterKeyRing } from './crypto/master-keys';

export const WEBHOOK_SECRET_TABLE = 'webhook_secret';

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
