import { createHash } from 'node:crypto';
import type { Knex } from '@mikro-orm/postgresql';
import type { TCredentialKind } from '@otesse/contracts';
import { VAULT_DB_SCHEMA } from './credential-records';
import { openCredential, sealCredential } from './crypto/envelope';
import type { MasterKeyRing } from './crypto/master-keys';

/** A credential row as knex reads it (timestamptz come back as strings). */
export interface TTokenRow {
  id: string;
  org_id: string;
  connection_id: string;
  vendor: string;
  kind: TCredentialKind;
  ciphertext: string;
  iv: string;
  auth_tag: string;
  wrapped_data_key: string;
  key_id: string;
  is_active: boolean;
  expires_at: Date | string | null;
  updated_at: Date | string;
  /** Set when a caller reported this sealing refused by the provider (see the entity). */
  refused_at: Date | string | null;
  forced_refreshes: number;
  last_forced_refresh_at: Date | string | null;
  /** The database's time as the row was read (its transaction's start): what expiry is judged against. */
  db_now: Date | string;
}

export const TOKEN_COLUMNS = [
  'id',
  'org_id',
  'connection_id',
  'vendor',
  'kind',
  'ciphertext',
  'iv',
  'auth_tag',
  'wrapped_data_key',
  'key_id',
  'is_active',
  'expires_at',
  'updated_at',
  'refused_at',
  'forced_refreshes',
  'last_forced_refresh_at',
];

/**
 * The connection's newest not-destroyed, not-retired credential of each kind asked for. `activeOnly: false` also
 * returns a deactivated one (a refresh token the provider declared dead is kept inactive until the disconnect
 * destroys it). Credentials retired by a swap are never among them: they belong to the previous authorization.
 */
export async function newestTokens(
  db: Knex | Knex.Transaction,
  where: { orgId: string; connectionId: string },
  kinds: TCredentialKind[],
  opts: { activeOnly: boolean },
): Promise<Partial<Record<TCredentialKind, TTokenRow>>> {
  const q = db('credential')
    .withSchema(VAULT_DB_SCHEMA)
    .where({ org_id: where.orgId, connection_id: where.connectionId, is_deleted: false })
    .whereNull('retired_at')
    .whereIn('kind', kinds);
  if (opts.activeOnly) q.andWhere('is_active', true);
  const rows = (await q
    .orderBy([
      { column: 'created_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .select([...TOKEN_COLUMNS, db.raw('now() as db_now')])) as TTokenRow[];
  const out: Partial<Record<TCredentialKind, TTokenRow>> = {};
  for (const r of rows) out[r.kind] ??= r;
  return out;
}

/**
 * Names one sealing of a credential's value (`vault.access-tokens.get`'s `fingerprint`): a hash of its id and
 * ciphertext, which a refresh replaces (fresh data key and nonce) and a key rotation leaves alone. Derived from
 * nothing secret, so it may travel in requests and logs; a caller sends it back to say the token was refused.
 */
export function tokenFingerprint(r: { id: string; ciphertext: string }): string {
  return createHash('sha256').update(`${r.id}:${r.ciphertext}`).digest('base64url').slice(0, 22);
}

/** Decrypts a row's value (throws VaultCryptoError when it cannot be read). */
export function openRow(keys: MasterKeyRing, r: TTokenRow): string {
  return openCredential(
    keys,
    { credentialId: r.id, orgId: r.org_id, connectionId: r.connection_id, kind: r.kind },
    {
      ciphertext: r.ciphertext,
      iv: r.iv,
      authTag: r.auth_tag,
      wrappedDataKey: r.wrapped_data_key,
      keyId: r.key_id,
    },
  );
}

/**
 * Replaces a row's value in place under a fresh data key (same credential id: the row's binding is unchanged),
 * with its new expiry. Used by refresh: no row is added per refresh, and the old ciphertext is gone with it.
 * Returns the new ciphertext (the new sealing's fingerprint is made of it).
 */
export async function resealRow(
  trx: Knex.Transaction,
  keys: MasterKeyRing,
  r: TTokenRow,
  value: string,
  expiresAt: Date | null,
  now: Date,
): Promise<string> {
  const sealed = sealCredential(
    keys,
    { credentialId: r.id, orgId: r.org_id, connectionId: r.connection_id, kind: r.kind },
    value,
  );
  await trx('credential').withSchema(VAULT_DB_SCHEMA).where({ id: r.id }).update({
    ciphertext: sealed.ciphertext,
    iv: sealed.iv,
    auth_tag: sealed.authTag,
    wrapped_data_key: sealed.wrappedDataKey,
    key_id: sealed.keyId,
    expires_at: expiresAt,
    updated_at: now,
    // A new value: whatever the provider refused was the old one.
    refused_at: null,
  });
  return sealed.ciphertext;
}
