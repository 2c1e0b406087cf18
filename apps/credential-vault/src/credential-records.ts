import type { Knex } from '@mikro-orm/postgresql';
import { AppError } from '@otesse/contracts';
import type { Logger } from '@otesse/logging';
import type { Catalogue } from '@otesse/providers';
import {
  databaseTimeIn,
  databaseUnavailable,
  isDatabaseUnavailable,
  runOnce,
} from '@otesse/persistence';
import { randomUUID } from 'node:crypto';
import type { TCredentialKind } from '@otesse/contracts';
import { sealCredential, VaultCryptoError } from './crypto/envelope';
import type { MasterKeyRing } from './crypto/master-keys';

export const VAULT_DB_SCHEMA = 'vault';

/**
 * New active credential rows, encrypted (CPU only: call it before the transaction so the connection's lock is
 * held for the writes alone). Shared by store and swap. Dated by the database's clock (`now()` as they are
 * written): expiry is judged by it too (`newestTokens`' `db_now`), whichever process wrote or reads them.
 */
export function sealCredentialRows(
  keys: MasterKeyRing,
  req: {
    orgId: string;
    connectionId: string;
    vendor: string;
    credentials: {
      kind: TCredentialKind;
      value: string;
      expiresAt?: string | null | undefined;
      expiresInSec?: number | undefined;
    }[];
  },
  knex: Knex,
) {
  return req.credentials.map((c) => {
    const id = randomUUID();
    const sealed = sealCredential(
      keys,
      { credentialId: id, orgId: req.orgId, connectionId: req.connectionId, kind: c.kind },
      c.value,
    );
    return {
      id,
      org_id: req.orgId,
      connection_id: req.connectionId,
      vendor: req.vendor,
      kind: c.kind,
      ciphertext: sealed.ciphertext,
      iv: sealed.iv,
      auth_tag: sealed.authTag,
      wrapped_data_key: sealed.wrappedDataKey,
      key_id: sealed.keyId,
      is_active: true,
      is_deleted: false,
      retired_at: null,
      expires_at:
        c.expiresInSec !== undefined
          ? databaseTimeIn(knex, c.expiresInSec * 1_000)
          : c.expiresAt
            ? new Date(c.expiresAt)
            : null,
      created_at: knex.fn.now(),
      updated_at: knex.fn.now(),
      deleted_at: null,
    };
  });
}

/** BAD_REQUEST `unknown_provider` for a vendor the catalogue does not know (nothing to revoke at, nor with). */
export function requireKnownProvider(catalogue: Pick<Catalogue, 'has'>, vendor: string): void {
  if (!catalogue.has(vendor)) {
    throw new AppError('BAD_REQUEST', `unknown provider ${vendor}`, { reason: 'unknown_provider' });
  }
}

/**
 * Rows of tokens no connection holds — a refused authorization's (`vault.tokens.discard`), a callback's staged ones
 * (`vault.tokens.stage`): sealed under a scratch connection id and retired (never handed out, never refreshed with),
 * their discard due at `dueAt`, dated by the database (the sweep that may finish it judges by the same clock). Staged
 * ones are claimable by a store or a swap until then (`staged_until`).
 */
export function scratchTokenRows(
  keys: MasterKeyRing,
  req: Omit<Parameters<typeof sealCredentialRows>[1], 'connectionId'> & {
    subdomain?: string | undefined;
  },
  knex: Knex,
  o: { scratchId: string; dueAt: Knex.Raw; staged: boolean },
) {
  return sealCredentialRows(keys, { ...req, connectionId: o.scratchId }, knex).map((r) => ({
    ...r,
    is_active: false,
    retired_at: knex.fn.now(),
    discard_requested_at: o.dueAt,
    discard_subdomain: req.subdomain ?? null,
    ...(o.staged ? { staged_until: o.dueAt } : {}),
  }));
}

/**
 * Serialises writes to one connection's credentials (store with replace, destroy) for the rest of the
 * transaction, so two replacements never both leave their credentials active.
 */
export async function lockConnection(trx: Knex.Transaction, connectionId: string): Promise<void> {
  await trx.raw('select pg_advisory_xact_lock(hashtextextended(?, 0))', [
    `vault:connection:${connectionId}`,
  ]);
}

/**
 * `runOnce` in the vault's schema, with key reuse (same key, other subject, org or connection) answered as a
 * typed CONFLICT instead of an internal error. Without `connectionId` (a command that makes its own scratch id:
 * a discard), the org alone is compared.
 */
export async function runVaultCommandOnce<T extends { orgId: string; connectionId?: string }>(
  knex: Knex,
  opts: { key: string; subject: string; orgId: string; connectionId?: string },
  effect: (trx: Knex.Transaction) => Promise<T>,
): Promise<{ result: T; replayed: boolean }> {
  let outcome: { result: T; replayed: boolean };
  try {
    outcome = await knex.transaction((trx) =>
      runOnce(trx, { schema: VAULT_DB_SCHEMA, key: opts.key, subject: opts.subject }, () =>
        effect(trx),
      ),
    );
  } catch (e) {
    if (!(e instanceof AppError) && /^idempotency key .* was used for /.test((e as Error).message))
      throw idempotencyConflict();
    throw e;
  }
  if (
    outcome.result.orgId !== opts.orgId ||
    (opts.connectionId !== undefined && outcome.result.connectionId !== opts.connectionId)
  )
    throw idempotencyConflict();
  return outcome;
}

/** The same idempotency key for another connection (or org): refused, nothing done. */
export function idempotencyConflict(): AppError {
  return new AppError('CONFLICT', 'this idempotency key was already used for another command', {
    reason: 'idempotency_key_reused',
  });
}

/** A value that cannot be read, as a typed error that names ids only. */
export function cryptoFailure(e: unknown): unknown {
  if (e instanceof VaultCryptoError) {
    return new AppError('INTERNAL', e.message, { reason: e.reason });
  }
  return e;
}

/**
 * Runs a write and, if Postgres refuses it, logs only the error's code and names: a pg error's `detail`
 * ("Failing row contains (…)") would otherwise carry the row's ciphertext and wrapped data key into a log line.
 * An unreachable database is UNAVAILABLE (retryable), anything else INTERNAL.
 */
export async function withSafeDbErrors<T>(
  logger: Logger,
  what: string,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof AppError) throw e;
    const pgError = e as { code?: string; constraint?: string; table?: string; name?: string };
    if (isDatabaseUnavailable(e)) {
      // Nothing was refused: the caller sends the same command again (its key makes it once).
      logger.warn({ errName: pgError.name, pgCode: pgError.code }, `${what}: database unavailable`);
      throw databaseUnavailable();
    }
    logger.error(
      {
        errName: pgError.name,
        pgCode: pgError.code,
        constraint: pgError.constraint,
        table: pgError.table,
      },
      `${what} failed`,
    );
    throw new AppError('INTERNAL', `${what} failed`, { reason: 'database_error' });
  }
}
