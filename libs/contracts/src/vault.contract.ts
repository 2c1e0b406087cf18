import { z } from 'zod';
import {
  ZCredentialKind,
  ZForgetIdempotencyRecords,
  ZForgetIdempotencyRecordsReply,
  ZIsoDate,
  ZOrgId,
  ZUuid,
  ZVendor,
} from './common.schema';
import { defineRequest } from './define';
import { WEBHOOK_MAX_BODY_BYTES } from './webhook.schema';

/** Largest plaintext the vault accepts (characters); refused before any work. */
export const VAULT_MAX_VALUE_LENGTH = 16_384;
/** Longest lifetime a credential may be given from now (`expiresInSec`): ten years. */
export const VAULT_MAX_EXPIRES_IN_SEC = 10 * 366 * 86_400;

export const ZCredentialInput = z
  .object({
    kind: ZCredentialKind,
    /** Plaintext, only in transit to the vault; bounded so a huge payload is refused before any work. */
    value: z.string().min(1).max(VAULT_MAX_VALUE_LENGTH),
    /** When the provider says the value stops working (access tokens); null = does not expire. */
    expiresAt: ZIsoDate.nullable().optional(),
    /**
     * How long the value works from now, as the provider said it (OAuth's `expires_in`): the vault dates it by the
     * database's clock, the one it judges expiry by, so the sender's clock cannot move it. Not with `expiresAt`.
     */
    expiresInSec: z.number().int().min(1).max(VAULT_MAX_EXPIRES_IN_SEC).optional(),
  })
  .strict()
  .refine((c) => !(c.expiresInSec !== undefined && c.expiresAt != null), {
    message: 'expiresAt or expiresInSec, not both',
    path: ['expiresInSec'],
  });
export type TCredentialInput = z.infer<typeof ZCredentialInput>;

/** The credentials of one request (store, stage, discard): at most one of each kind, which one would win being unsaid. */
export const ZCredentialList = z
  .array(ZCredentialInput)
  .min(1)
  .max(8)
  .refine((cs) => new Set(cs.map((c) => c.kind)).size === cs.length, {
    message: 'at most one credential of each kind',
  });

/** What the vault tells about a credential: never its value, nor any of its key material. */
export const ZCredentialSummary = z.object({
  id: ZUuid,
  connectionId: ZUuid,
  vendor: ZVendor,
  kind: ZCredentialKind,
  isActive: z.boolean(),
  isDeleted: z.boolean(),
  /**
   * When `vault.credentials.swap` retired it (inactive, still encrypted until revoked and destroyed by id); null
   * for a current credential. Optional for older readers; the vault always sends it.
   */
  retiredAt: ZIsoDate.nullable().optional(),
  expiresAt: ZIsoDate.nullable(),
  /** Master key the data key is wrapped under (shows rotation progress). */
  keyId: z.string(),
  createdAt: ZIsoDate,
  updatedAt: ZIsoDate,
  deletedAt: ZIsoDate.nullable(),
});
export type TCredentialSummary = z.infer<typeof ZCredentialSummary>;

export const ZRevocationOutcome = z.enum([
  'revoked',
  'failed',
  'timeout',
  'unreachable',
  'not_supported',
  'no_token',
]);
export const ZRevocationReport = z.object({
  /** false for API-key providers and providers without a revocation endpoint (recorded as not supported). */
  supported: z.boolean(),
  /** true only when every token that existed was revoked. */
  succeeded: z.boolean(),
  results: z.array(
    z.object({
      kind: z.enum(['refresh_token', 'access_token']),
      outcome: ZRevocationOutcome,
      httpStatus: z.number().int().nullable(),
    }),
  ),
  warnings: z.array(z.string()),
});
export type TRevocationReport = z.infer<typeof ZRevocationReport>;

/**
 * An instance's webhook signing secret: the provider's verifier token or signing key, pasted by an admin, or one the
 * admin made up and gave the provider. Printable ASCII without spaces, long enough not to be guessed.
 */
export const ZWebhookSecret = z
  .string()
  .min(16)
  .max(512)
  .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces');

/**
 * What checking a delivery's signature found: `valid`; `mismatch` (wrong signature, or the secret is another
 * provider's); `no_secret` (none set for the instance: deliveries are refused until an admin sets one);
 * `unsupported` (the provider signs no webhooks this product can check).
 */
/**
 * Longest an instance's previous webhook secret may stay accepted after it is replaced (7 days): long enough to
 * change the secret at the provider, short enough that a replaced secret does not linger.
 */
export const WEBHOOK_SECRET_MAX_GRACE_SECONDS = 7 * 24 * 3600;

/** A replaced secret still accepted: until when, and when a delivery last came signed with it (null: not since). */
export const ZPreviousWebhookSecret = z.object({
  validUntil: ZIsoDate,
  lastUsedAt: ZIsoDate.nullable(),
});
export type TPreviousWebhookSecret = z.infer<typeof ZPreviousWebhookSecret>;

export const ZWebhookVerifyOutcome = z.enum(['valid', 'mismatch', 'no_secret', 'unsupported']);
export type TWebhookVerifyOutcome = z.infer<typeof ZWebhookVerifyOutcome>;

export const vaultContracts = {
  /**
   * Store a connection's credentials (at most one of each kind per request). `replace`: in the same transaction the
   * connection's current credentials are taken out of use (retired: never handed out nor refreshed with again);
   * then, before the answer, they are revoked at the provider (best effort, as a disconnect revokes; not where the
   * provider's revocation ends the user's whole grant, Google, which the new tokens may share) and destroyed
   * (as `vault.credentials.destroy` does) — what fails there the vault's discard sweep finishes. Credentials a
   * swap retired stay its saga's.
   * `credentialIds` are in the order of `credentials`. CONFLICT `connection_closed` once the connection's connect
   * was abandoned (`integrations.connection.abandoned`): the vault destroyed what it held and stores nothing more
   * for it. With `stageId` instead of `credentials`: the tokens an OAuth callback staged (`vault.tokens.stage`)
   * are moved into the connection (sealed again for it, the staged copy destroyed) in the store's transaction;
   * PRECONDITION_FAILED `stage_gone` when a store or swap claimed them already, they were discarded or their hold
   * ended (the vault's sweep revokes those).
   */
  'vault.credentials.store': defineRequest({
    request: z
      .object({
        orgId: ZOrgId,
        connectionId: ZUuid,
        vendor: ZVendor,
        credentials: ZCredentialList.optional(),
        /** Instead of `credentials`: the staged tokens to move in. */
        stageId: ZUuid.optional(),
        replace: z.boolean().default(false),
        /** Optional: a retried store (saga step) answers the first ids instead of storing twice. */
        idempotencyKey: z.string().min(1).max(200).optional(),
      })
      .strict()
      .refine((r) => (r.credentials === undefined) !== (r.stageId === undefined), {
        message: 'either credentials or stageId',
        path: ['stageId'],
      }),
    reply: z.object({ credentialIds: z.array(ZUuid) }),
    errors: ['BAD_REQUEST', 'CONFLICT', 'PRECONDITION_FAILED', 'INTERNAL'],
  }),
  /** Metadata only, never a value. Oldest first (then by kind). */
  'vault.credentials.describe': defineRequest({
    request: z
      .object({
        orgId: ZOrgId,
        connectionId: ZUuid,
        includeDeleted: z.boolean().default(false),
      })
      .strict(),
    reply: z.object({ credentials: z.array(ZCredentialSummary) }),
    errors: ['BAD_REQUEST'],
  }),
  /**
   * Plaintext for a caller about to call the provider (sync runner, health check): the connection's newest active
   * access token, or its API key for API-key providers. An access token with less than the refresh margin left
   * (60 s, at most half its lifetime) is refreshed first at the catalogue's token endpoint, once per connection
   * however many callers ask at once (rotated refresh tokens are saved in the same transaction). A still-valid
   * token is always answered, even when its refresh failed. Otherwise:
   * NOT_FOUND `no_active_credential`; PRECONDITION_FAILED `access_token_expired` (expired, nothing to refresh
   * with), `refresh_token_expired` (invalid_grant — or ServiceNow's 401 — the connection is flagged and
   * `integrations.connection.refresh_token_expired` published), `connection_<status>` (not connected: no
   * refresh while a disconnect runs), `connection_revoking` (its current tokens are being revoked),
   * `subdomain_required`; PROVIDER_ERROR `invalid_client` (configuration
   * fault, alerted) or `refresh_rejected`; UNAVAILABLE `provider_unavailable` (5xx/429/network/timeout after
   * bounded retries: retry later) or when the connection service does not answer.
   *
   * A provider may refuse an access token before its recorded expiry (password change, sessions revoked, early
   * rotation). A caller that got a 401 with a token sends its `fingerprint` back as `refusedFingerprint`: when it
   * is still the connection's current access token, the vault refreshes it whatever its expiry (the same single
   * flight and lock, so callers refusing the same token at once cause one refresh) and never answers it again, to
   * any caller, with or without `refusedFingerprint` (a refresh that fails is the error, e.g.
   * `refresh_token_expired` with the flag set; nothing to refresh with is PRECONDITION_FAILED
   * `access_token_refused`). Forced refreshes back off: one refused within twice TOKEN_REFUSAL_BACKOFF_MAX_MS of
   * the previous forced refresh waits TOKEN_REFUSAL_BACKOFF_MS (60 s) doubled per forced refresh in that row, up to
   * TOKEN_REFUSAL_BACKOFF_MAX_MS (1 h); meanwhile PRECONDITION_FAILED `access_token_refused` with
   * `details.retryAt` (a provider that refuses every token it issues is asked for one an hour, not one per call).
   * A fingerprint that is no longer current (another caller, a refresh or a reconnect rotated past it) refreshes
   * nothing: the current token is answered. An API key is answered as it is (nothing to renew: the same
   * fingerprint comes back). One forced refresh per refused token: a caller refused again with the new token must
   * give up rather than ask again.
   */
  'vault.access-tokens.get': defineRequest({
    request: z
      .object({
        orgId: ZOrgId,
        connectionId: ZUuid,
        /** The `fingerprint` of a token the provider refused (401): never the token itself. */
        refusedFingerprint: z
          .string()
          .regex(/^[A-Za-z0-9_-]{22}$/)
          .optional(),
      })
      .strict(),
    reply: z.object({
      accessToken: z.string(),
      expiresAt: ZIsoDate.nullable(),
      kind: ZCredentialKind,
      /**
       * Names this token (its credential and this sealing of it; derived from neither the token nor anything
       * secret): what a caller sends back as `refusedFingerprint`. Absent only from a vault older than the field.
       */
      fingerprint: z
        .string()
        .regex(/^[A-Za-z0-9_-]{22}$/)
        .optional(),
    }),
    errors: ['BAD_REQUEST', 'NOT_FOUND', 'PRECONDITION_FAILED', 'PROVIDER_ERROR', 'UNAVAILABLE'],
  }),
  /**
   * Defense in depth: overwrite the ciphertext, its iv/tag and the wrapped data key with '', then soft-delete
   * (isDeleted, not isActive) — every live credential of the connection, or only `credentialIds` (ids of another
   * connection are ignored and not counted). Idempotent by `idempotencyKey`: a replay answers the first count and does nothing;
   * the same key for another connection is CONFLICT (`idempotency_key_reused`).
   */
  'vault.credentials.destroy': defineRequest({
    request: z
      .object({
        orgId: ZOrgId,
        connectionId: ZUuid,
        idempotencyKey: z.string().min(1).max(200),
        /** Only these (e.g. the retired credentials of a swap); default: every credential of the connection. */
        credentialIds: z.array(ZUuid).min(1).max(16).optional(),
      })
      .strict(),
    reply: z.object({ destroyed: z.number().int().min(0) }),
    errors: ['BAD_REQUEST', 'CONFLICT'],
  }),
  /**
   * Re-wrap every live data key not under the active master key. `remaining` counts live credentials still
   * under another key afterwards (their key id is missing from the key ring: they cannot be read either).
   */
  'vault.keys.rotate': defineRequest({
    request: z.object({}).strict(),
    reply: z.object({
      activeKeyId: z.string(),
      rewrapped: z.number().int().min(0),
      remaining: z.number().int().min(0),
    }),
    errors: ['INTERNAL'],
  }),
  /**
   * Disconnect saga step 3 (the pivot): revoke the refresh token and the access token separately (two calls, in
   * parallel) at the catalogue's revocation endpoint; tokens are decrypted inside the vault only. Provider
   * failures (unreachable, 4xx/5xx, hang past `timeoutMs` per call) are warnings, never errors: the disconnect goes
   * on; 200, 400 `invalid_token` and 404 count as revoked (RFC 7009). API-key providers and providers without a
   * revocation endpoint answer `supported: false` with the reason as a warning. `subdomain`: the instance's (the
   * vault asks the connection service when it is missing and the URL needs one). The reply comes within about
   * `timeoutMs` (+ a little): the caller's request timeout must be longer. Idempotent by key (a replay answers the
   * first result and calls nobody); the same key for another connection is CONFLICT `idempotency_key_reused`.
   * No transaction is held over the provider's calls: the key is claimed first; a duplicate on another replica
   * while the claim is live is UNAVAILABLE `revocation_in_progress` (retry: the retry replays the report).
   * With `credentialIds` exactly those tokens are revoked (active or retired; one result per token, refresh tokens
   * first; ids not of this connection are skipped with a warning; one a revocation already revoked is reported
   * `revoked` without a call); without, the connection's current refresh and access token and every retired token
   * not revoked yet (a reconnect's, whose own revocation has not run). The connection need not exist in the
   * connection service: with `subdomain` given (or not needed) no lookup is made — the edge revokes a refused
   * authorization's tokens stored under a throwaway id.
   * BAD_REQUEST `unknown_provider`, `vendor_mismatch` (a stored token is another provider's: never sent).
   */
  'vault.tokens.revoke': defineRequest({
    request: z
      .object({
        orgId: ZOrgId,
        connectionId: ZUuid,
        vendor: ZVendor,
        subdomain: z.string().max(63).optional(),
        idempotencyKey: z.string().min(1).max(200),
        timeoutMs: z.number().int().min(100).max(30_000).default(3_000),
        /** Only these credentials (e.g. retired by a swap, so no longer active); default: the active ones. */
        credentialIds: z.array(ZUuid).min(1).max(16).optional(),
      })
      .strict(),
    reply: ZRevocationReport,
    errors: ['BAD_REQUEST', 'CONFLICT', 'UNAVAILABLE'],
  }),
  /**
   * Tokens Otesse must not keep — an OAuth callback for an account it refuses (another account, tenant or site):
   * the vault takes them over. They are stored encrypted and retired (never handed out) under a scratch connection
   * id, `discardId`, and committed before anything else; then revoked at the provider (best effort, as a disconnect
   * revokes: the refresh and the access token separately, failures are warnings) and destroyed. The answer comes
   * after that (`finished: true`), or, when the revocation or destruction failed, once they were stored
   * (`finished: false`): from the moment they are stored nothing is left to the caller — the vault's sweep (any
   * replica) finishes what a failure or a stopped vault left. `subdomain`: the instance host the authorization ran
   * against (ServiceNow, Zendesk). Idempotent by key: a replay stores nothing and answers the same `discardId`.
   * BAD_REQUEST `unknown_provider`.
   */
  'vault.tokens.discard': defineRequest({
    request: z
      .object({
        orgId: ZOrgId,
        vendor: ZVendor,
        subdomain: z.string().max(63).optional(),
        credentials: ZCredentialList.optional(),
        /**
         * Instead of `credentials`: the tokens staged under this id (`vault.tokens.stage`), discarded now rather
         * than when their hold ends. Nothing to do when they were claimed by a swap or discarded already.
         */
        stageId: ZUuid.optional(),
        /**
         * false: destroyed without being revoked (the provider's revocation would end a grant a live connection
         * uses). Default true.
         */
        revoke: z.boolean().optional(),
        idempotencyKey: z.string().min(1).max(200),
      })
      .strict()
      .refine((r) => (r.credentials === undefined) !== (r.stageId === undefined), {
        message: 'either credentials or stageId',
        path: ['stageId'],
      }),
    reply: z.object({ discardId: ZUuid, finished: z.boolean() }),
    errors: ['BAD_REQUEST', 'CONFLICT'],
  }),
  /**
   * The tokens an OAuth callback obtained, held by the vault from the code exchange on: stored encrypted and
   * retired (never handed out, never refreshed with) under a scratch id, `stageId`. A connect moves them into its
   * connection (`vault.credentials.store` with `stageId`); a reconnect's or change of user's saga (seed 003) carries
   * the id in its input, so any edge that drives it can swap them in (`vault.credentials.swap` with `stageId`) and a
   * saga resumed after its edge died completes. The tokens never live only in one process. Not
   * claimed within `holdSec`, they are discarded by the vault's sweep: revoked at the provider and destroyed, except
   * where the provider's revocation ends the user's whole grant (Google), which the vault cannot tell is unused:
   * those are destroyed only. A refusal or a compensation discards them at once (`vault.tokens.discard` with
   * `stageId`). Idempotent by key: a replay stores nothing and answers the same `stageId`. BAD_REQUEST
   * `unknown_provider`.
   */
  'vault.tokens.stage': defineRequest({
    request: z
      .object({
        orgId: ZOrgId,
        vendor: ZVendor,
        subdomain: z.string().max(63).optional(),
        credentials: ZCredentialList,
        /** How long a swap may claim them; then they are discarded. */
        holdSec: z.number().int().min(10).max(3_600).default(900),
        idempotencyKey: z.string().min(1).max(200),
      })
      .strict(),
    reply: z.object({ stageId: ZUuid }),
    errors: ['BAD_REQUEST'],
  }),
  /**
   * Reconnect / change-user (seed 003): in ONE transaction, under the connection's lock (the one refresh and
   * revoke take), the connection's current credentials — every one neither destroyed nor already retired, the
   * dead refresh token of an expired connection included — are retired (isActive = false, retiredAt set, kept
   * encrypted so they can still be revoked) and the new ones, those staged under `stageId` (`vault.tokens.stage`),
   * become active. Taken by reference only, so a reconnect's tokens cross the bus once, when the callback stages
   * them. Retired credentials are never handed out nor refreshed with. The saga then revokes (`vault.tokens.revoke`
   * with `credentialIds`) and destroys (`vault.credentials.destroy` with `credentialIds`) the retired ones. The
   * vault does not check the connection (the edge's saga holds `connection.connections.lock`). Idempotent by key: a
   * replay answers the first ids and changes nothing; the same key for another connection is CONFLICT
   * `idempotency_key_reused`. BAD_REQUEST `vendor_mismatch` (the current or the staged credentials are another
   * provider's).
   *
   * Without `stageId` (the saga lost the new tokens — a saga started before they were staged, its edge gone — and
   * cannot tell whether its swap reached the vault): applies nothing. A swap made under the key answers its ids as
   * a replay would; when none was, the key is recorded as abandoned and the answer is PRECONDITION_FAILED
   * `swap_not_applied`, and a swap that arrives under it later (the lost request, late) changes nothing and gets the
   * same answer. Either way the saga knows for certain.
   */
  'vault.credentials.swap': defineRequest({
    request: z
      .object({
        orgId: ZOrgId,
        connectionId: ZUuid,
        vendor: ZVendor,
        /**
         * The tokens `vault.tokens.stage` holds under this id, moved into the connection (re-encrypted for it) and
         * their staged copy destroyed, in the swap's transaction. Gone (their hold ended, or discarded): nothing is
         * applied, the key is recorded as abandoned and the answer is PRECONDITION_FAILED `swap_not_applied`, as
         * for a swap without `stageId`.
         */
        stageId: ZUuid.optional(),
        idempotencyKey: z.string().min(1).max(200),
      })
      // A caller still sending the tokens inline (`credentials`, removed) gets BAD_REQUEST, not a silent settle.
      .strict(),
    reply: z.object({ credentialIds: z.array(ZUuid), retiredCredentialIds: z.array(ZUuid) }),
    errors: ['BAD_REQUEST', 'CONFLICT', 'PRECONDITION_FAILED'],
  }),
  /**
   * Set (or replace) an instance's webhook signing secret. Stored like a credential (envelope-encrypted, the org and
   * instance bound as AAD) and never handed out again: the reply says only that one is set. It belongs to the
   * instance's inbound endpoint, which a disconnect disables and keeps, so it outlives disconnects. Replacing it
   * with `keepPreviousSeconds` > 0 keeps the replaced secret accepted that long (the time to change it at the
   * provider without refusing a delivery); 0 stops accepting it at once, as after a leak. BAD_REQUEST
   * `unsupported_provider` when the catalogue has no webhook signature scheme for the vendor, `instance_mismatch`
   * when the instance id holds another org's secret (left untouched).
   */
  'vault.webhook-secrets.set': defineRequest({
    request: z
      .object({
        orgId: ZOrgId,
        instanceId: ZUuid,
        vendor: ZVendor,
        secret: ZWebhookSecret,
        keepPreviousSeconds: z
          .number()
          .int()
          .min(0)
          .max(WEBHOOK_SECRET_MAX_GRACE_SECONDS)
          .default(0),
      })
      .strict(),
    reply: z.object({
      configured: z.literal(true),
      updatedAt: ZIsoDate,
      /** The replaced secret, when it stays accepted for a while; null otherwise. */
      previous: ZPreviousWebhookSecret.nullable().default(null),
    }),
    errors: ['BAD_REQUEST'],
  }),
  /**
   * Whether an instance has a webhook signing secret, and since when; and a replaced one still accepted (never
   * a secret).
   */
  'vault.webhook-secrets.describe': defineRequest({
    request: z.object({ orgId: ZOrgId, instanceId: ZUuid }).strict(),
    reply: z.object({
      configured: z.boolean(),
      updatedAt: ZIsoDate.nullable(),
      previous: ZPreviousWebhookSecret.nullable().default(null),
    }),
    errors: ['BAD_REQUEST'],
  }),
  /**
   * Stop accepting an instance's replaced secret now (the provider has the new one), destroying it. `expired`:
   * whether there was one still accepted.
   */
  'vault.webhook-secrets.expire-previous': defineRequest({
    request: z.object({ orgId: ZOrgId, instanceId: ZUuid }).strict(),
    reply: z.object({ expired: z.boolean() }),
    errors: ['BAD_REQUEST'],
  }),
  /**
   * Remove an instance's webhook secret, and a replaced one in its grace: both destroyed, and every delivery is
   * refused until a new one is set (the endpoint itself is untouched). `removed`: whether there was one.
   */
  'vault.webhook-secrets.remove': defineRequest({
    request: z.object({ orgId: ZOrgId, instanceId: ZUuid }).strict(),
    reply: z.object({ removed: z.boolean() }),
    errors: ['BAD_REQUEST'],
  }),
  /**
   * Check an inbound delivery's signature with the instance's secret, inside the vault (the secret never leaves
   * it): HMAC-SHA256 over the content the catalogue's scheme names (the body, with the timestamp where the provider
   * signs one), compared in constant time with the header's value — or, for providers that send basic credentials
   * (Postmark), the `Authorization` header's user name and password. The body is the delivery's UTF-8 text. A
   * replaced secret still within its grace is tried after the current one; `secret` says which one matched.
   */
  'vault.webhook-signatures.verify': defineRequest({
    request: z
      .object({
        orgId: ZOrgId,
        instanceId: ZUuid,
        vendor: ZVendor,
        /** The raw body, base64: as JSON text, a body of quotes or control characters would grow sixfold. */
        bodyBase64: z
          .string()
          .max(Math.ceil(WEBHOOK_MAX_BODY_BYTES / 3) * 4)
          .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64'),
        signature: z.string().min(1).max(1024),
        timestamp: z.string().min(1).max(64).nullable(),
        /** The URL the provider called (the endpoint's public URL), for providers that sign it (HubSpot). */
        url: z.string().min(1).max(2048).nullable().default(null),
      })
      .strict(),
    reply: z.object({
      outcome: ZWebhookVerifyOutcome,
      /** Which secret the delivery was signed with, when valid: the provider still uses the previous one. */
      secret: z.enum(['current', 'previous']).nullable().default(null),
    }),
    errors: ['BAD_REQUEST'],
  }),
  /**
   * The edge releases the idempotency records of sagas that ended longer ago than its retention (they never send
   * again): each key's row in this service's `processed_command` is deleted. Only saga keys; one the service never
   * saw is skipped. Idempotent.
   */
  'vault.idempotency-records.forget': defineRequest({
    request: ZForgetIdempotencyRecords,
    reply: ZForgetIdempotencyRecordsReply,
    errors: ['BAD_REQUEST'],
  }),
} as const;
