import { EntitySchema } from '@mikro-orm/core';
import type { TCredentialKind } from '@otesse/contracts';

export const CREDENTIAL_KINDS = [
  'access_token',
  'refresh_token',
  'api_key',
  'client_secret',
  'id_token',
] as const satisfies readonly TCredentialKind[];

/**
 * One secret of a connection, envelope-encrypted (see crypto/envelope.ts). Destroying it overwrites the
 * ciphertext, iv, tag and wrapped data key with '' and soft-deletes the row (kept for the record). Earlier versions
 * of the row (dead tuples, WAL, backups) still hold the sealed value until the master key that wraps it is rotated
 * away (ARCHITECTURE.md, "Destroyed, and copies").
 */
export interface Credential {
  id: string;
  orgId: string;
  connectionId: string;
  vendor: string;
  kind: TCredentialKind;
  /** base64 AES-256-GCM ciphertext of the value under the credential's data key; '' once destroyed. */
  ciphertext: string;
  /** base64 12-byte GCM nonce; '' once destroyed. */
  iv: string;
  /** base64 16-byte GCM tag; '' once destroyed. */
  authTag: string;
  /** base64 (iv ‖ data key encrypted by the master key ‖ tag); '' once destroyed. */
  wrappedDataKey: string;
  /** Master key that wraps the data key. */
  keyId: string;
  isActive: boolean;
  isDeleted: boolean;
  /**
   * Set when `vault.credentials.swap` replaced it (reconnect / change user): inactive but still encrypted, so the
   * saga can revoke it at the provider before destroying it. A retired credential is never handed out, refreshed
   * with, or taken for one of the connection's current ones.
   */
  retiredAt: Date | null;
  /**
   * Set on tokens handed over to be discarded (`vault.tokens.discard`: an authorization Otesse refused), which are
   * stored retired under a scratch connection id: revoked at the provider and destroyed in the background, by the
   * sweep if the vault stopped first; also on an abandoned connect's credentials and on those a `store` with
   * `replace` took over. Null for every connection's current credentials.
   */
  discardRequestedAt: Date | null;
  /** The instance host (ServiceNow, Zendesk) a discarded token belongs to, for its revocation. */
  discardSubdomain: string | null;
  /**
   * Which discard a token belongs to, when that is not its connection id: the credentials a `store` with `replace`
   * took over (a connection may have several, one per replace). Null: the connection id is the discard's (a
   * refused authorization's scratch id, an abandoned connect).
   */
  discardId: string | null;
  /**
   * Set on the new tokens of a reconnect or change of user held for its saga (`vault.tokens.stage`), under a scratch
   * connection id: until then a swap may claim them. Their discard is due at the same time (`discardRequestedAt`),
   * so the sweep takes those never claimed; one of a provider whose revocation ends the whole grant is then destroyed
   * without being revoked. Null for every other credential.
   */
  stagedUntil: Date | null;
  /**
   * The last revocation's outcome for this token at the provider (`vault.tokens.revoke`: 'revoked', 'failed',
   * 'timeout', …), never taken back once 'revoked'; null while none was attempted. It lets a disconnect revoke the
   * retired tokens a reconnect left unrevoked (its revocation stopped before their turn) before destroying them,
   * and that reconnect's later revocation report them revoked instead of calling the provider again.
   */
  revocationOutcome: string | null;
  revocationAttemptedAt: Date | null;
  /**
   * An access token's sealing a caller reported refused by the provider (a 401 before its recorded expiry): never
   * answered again; cleared when a refresh reseals the row. Null: none reported.
   */
  refusedAt: Date | null;
  /**
   * Forced refreshes (of refused tokens) in a row, each token refused within TOKEN_REFUSAL_BACKOFF_MAX_MS of its
   * issue: a provider that refuses every token (API access withdrawn, the token endpoint still issuing) gets one
   * forced refresh per back-off (doubling from TOKEN_REFUSAL_BACKOFF_MS), not one per caller and per run.
   */
  forcedRefreshes: number;
  lastForcedRefreshAt: Date | null;
  expiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  deletedAt: Date | null;
}

export const CredentialSchema = new EntitySchema<Credential>({
  name: 'Credential',
  tableName: 'credential',
  indexes: [
    { name: 'credential_connection_idx', properties: ['orgId', 'connectionId', 'isDeleted'] },
    // Rotation looks for data keys not under the active master key.
    { name: 'credential_key_id_idx', properties: ['keyId'] },
    // The start's master-key check (crypto/master-key-check.ts): the key ids live rows use, and each one's newest
    // rows, without reading or sorting the others. On columns a token refresh never changes (created_at, and the
    // predicate's is_deleted), so refreshes stay HOT updates.
    {
      name: 'credential_key_sample_idx',
      expression: `create index "credential_key_sample_idx" on "vault"."credential" ("key_id", "created_at") where "is_deleted" = false`,
    },
    // The discard sweep: tokens handed over to be discarded and not destroyed yet (none, most of the time).
    {
      name: 'credential_discard_idx',
      expression: `create index "credential_discard_idx" on "vault"."credential" ("discard_requested_at") where "discard_requested_at" is not null and "is_deleted" = false`,
    },
  ],
  properties: {
    id: { type: 'uuid', primary: true },
    orgId: { type: 'uuid' },
    connectionId: { type: 'uuid' },
    vendor: { type: 'string', length: 40 },
    kind: { enum: true, items: () => [...CREDENTIAL_KINDS] } as never,
    ciphertext: { type: 'text' },
    iv: { type: 'string', length: 24 },
    authTag: { type: 'string', length: 24 },
    wrappedDataKey: { type: 'string', length: 128 },
    keyId: { type: 'string', length: 64 },
    isActive: { type: 'boolean' },
    isDeleted: { type: 'boolean' },
    retiredAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    discardRequestedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    discardSubdomain: { type: 'string', length: 255, nullable: true },
    discardId: { type: 'uuid', nullable: true },
    stagedUntil: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    revocationOutcome: { type: 'string', length: 20, nullable: true },
    revocationAttemptedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    refusedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    forcedRefreshes: { type: 'integer', default: 0 },
    lastForcedRefreshAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    expiresAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
    deletedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
  },
});
