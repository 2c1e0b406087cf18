import type { Knex } from '@mikro-orm/postgresql';
import { AppError, type TCredentialKind } from '@otesse/contracts';
import { VAULT_DB_SCHEMA } from './credential-records';
import type { MasterKeyRing } from './crypto/master-keys';
import { openRow, TOKEN_COLUMNS, type TTokenRow } from './token-rows';

/** Staged tokens a store or a swap claimed: opened, ready to be sealed again for the connection. */
export interface TClaimedStage {
  /** The staged rows, destroyed by `destroyStagedCopy` in the same transaction. */
  ids: string[];
  credentials: { kind: TCredentialKind; value: string; expiresAt: string | null }[];
}

/**
 * The tokens `vault.tokens.stage` holds under `stageId`, while a store or swap may still claim them (neither
 * discarded nor past their hold, by the database's clock), locked for the caller's transaction. Undefined when
 * there are none (claimed already, discarded, or their hold ended). BAD_REQUEST `vendor_mismatch` when they are
 * another provider's.
 */
export async function claimStagedTokens(
  trx: Knex.Transaction,
  keys: MasterKeyRing,
  req: { orgId: string; stageId: string; vendor: string },
): Promise<TClaimedStage | undefined> {
  const staged = (await trx('credential')
    .withSchema(VAULT_DB_SCHEMA)
    .where({ org_id: req.orgId, connection_id: req.stageId, is_deleted: false })
    .andWhere('staged_until', '>', trx.raw('clock_timestamp()'))
    // By kind, as `vault.credentials.describe` lists one connect's credentials: the ids a store or swap answers
    // come in the order the next swap answers them retired.
    .orderBy([{ column: 'kind' }, { column: 'id' }])
    .forUpdate()
    .select([...TOKEN_COLUMNS])) as TTokenRow[];
  if (staged.length === 0) return undefined;
  if (staged.some((r) => r.vendor !== req.vendor)) {
    throw new AppError('BAD_REQUEST', `the staged tokens are not ${req.vendor}'s`, {
      reason: 'vendor_mismatch',
    });
  }
  return {
    ids: staged.map((r) => r.id),
    credentials: staged.map((r) => ({
      kind: r.kind,
      value: openRow(keys, r),
      expiresAt: r.expires_at === null ? null : new Date(r.expires_at).toISOString(),
    })),
  };
}

/**
 * The staged copy of tokens just moved into a connection, destroyed as a disconnect destroys (its value and key
 * gone), with no discard left, in the mover's transaction. Its columns are written here rather than through
 * `vault.destroy_credentials`, whose record would name a key no saga or connect releases.
 */
export async function destroyStagedCopy(
  trx: Knex.Transaction,
  ids: readonly string[],
  now: Date,
): Promise<void> {
  await trx('credential').withSchema(VAULT_DB_SCHEMA).whereIn('id', ids).update({
    ciphertext: '',
    iv: '',
    auth_tag: '',
    wrapped_data_key: '',
    is_active: false,
    is_deleted: true,
    discard_requested_at: null,
    deleted_at: now,
    updated_at: now,
  });
}
