import { z } from 'zod';
import { ZIsoDate, ZOrgId, ZSafeDetails, ZUserId, ZUuid, ZVendor } from './common.schema';
import { defineEvent, defineRequest } from './define';

export const AUDIT_ACTIONS = [
  'connection.connected',
  'connection.connect_failed',
  'connection.disconnected',
  'connection.disconnect_failed',
  'connection.reconnected',
  'connection.reconnect_failed',
  'connection.user_changed',
  'connection.change_user_failed',
  'connection.refresh_token_expired',
  'instance.configured',
  'instance.tenant_unlinked',
  'instance.unlink_failed',
  'operation.stopped',
  'operation.resumed',
  'sync_job.enabled',
  'sync_job.disabled',
  'sync_job.run_requested',
  'vault.keys_rotated',
  'webhook_secret.previous_expired',
  'webhook_secret.removed',
  'webhook_secret.set',
] as const;
export const ZAuditAction = z.enum(AUDIT_ACTIONS);
export type TAuditAction = z.infer<typeof ZAuditAction>;

export const ZAuditOutcome = z.enum(['success', 'failure', 'partial']);

/** What a producer publishes on the AUDIT stream. The event id is the JetStream msgID and the dedupe key. */
export const ZAuditEvent = z.object({
  eventId: ZUuid.describe(
    'Producer-chosen id: the JetStream msgID and the dedupe key (written once).',
  ),
  orgId: ZOrgId.describe('The org whose log (and hash chain) the entry joins.'),
  /** Who acted (the admin when an admin acts on another user's connection). */
  actorUserId: ZUserId.nullable().describe(
    'Who acted (the admin when an admin acts on another user’s connection); null for the system.',
  ),
  /** The connection's owner when it differs from the actor. */
  onBehalfOfUserId: ZUserId.nullable()
    .default(null)
    .describe('The owner of the connection acted on, when it is not the actor.'),
  action: ZAuditAction,
  provider: ZVendor.nullable().default(null).describe('Catalogue key of the provider, if any.'),
  targets: z
    .object({
      instanceId: ZUuid.optional(),
      connectionId: ZUuid.optional(),
      sagaId: ZUuid.optional(),
      jobId: ZUuid.optional(),
    })
    .strict()
    .default({})
    .describe('Ids of what was acted on.'),
  outcome: ZAuditOutcome,
  details: ZSafeDetails.default({}).describe(
    'Counts, flags and warnings (a disconnect: revocationSucceeded, syncJobsDisabled, credentialsDeleted, ' +
      'warnings). Never a secret: keys that name one (token, secret, password, apiKey, authorization, ' +
      'credential, privateKey, cookie…) may only hold numbers, booleans or null, and long opaque strings ' +
      'are refused anywhere.',
  ),
  occurredAt: ZIsoDate.describe('When it happened (producer clock).'),
  ip: z.string().max(64).nullable().default(null).describe('Client IP address of the request.'),
  traceId: z.string().max(64).nullable().default(null).describe('Trace id of the request.'),
});
export type TAuditEvent = z.infer<typeof ZAuditEvent>;
export type TAuditEventInput = z.input<typeof ZAuditEvent>;

export const ZAuditEntry = ZAuditEvent.extend({
  id: ZUuid,
  seq: z.number().int().describe('Position in the org’s hash chain, from 1, gap-free.'),
  recordedAt: ZIsoDate.describe('When the audit service wrote it.'),
  hash: z.string().describe('sha256(prevHash + "\\n" + canonical JSON of the content), hex.'),
  prevHash: z.string().nullable().describe('The previous entry’s hash; null for seq 1.'),
});
export type TAuditEntry = z.infer<typeof ZAuditEntry>;

export const ZAuditFilters = z
  .object({
    action: ZAuditAction.optional(),
    provider: ZVendor.optional(),
    actorUserId: ZUserId.optional(),
    from: ZIsoDate.optional().describe('occurredAt >= from'),
    to: ZIsoDate.optional().describe('occurredAt < to'),
  })
  .strict();
export type TAuditFilters = z.infer<typeof ZAuditFilters>;

/** Largest page of `audit.entries.list` (the export streams pages this size); a page is also cut at ~512 KB. */
export const AUDIT_LIST_MAX_LIMIT = 1_000;

/** Why `audit.chain.verify` found a chain broken (at `firstBrokenSeq`). */
export const ZAuditChainBreak = z.enum([
  /** The entry's stored hash is not the hash of its content: the row was edited. */
  'hash_mismatch',
  /** The entry does not link to the previous entry's hash (an entry before it was replaced). */
  'prev_hash_mismatch',
  /** No entry at this position: entries were deleted. */
  'missing_entry',
  /** The chain head records later entries, or another last hash, than the table holds: the tail was cut or edited. */
  'head_mismatch',
]);
export type TAuditChainBreak = z.infer<typeof ZAuditChainBreak>;

export const ZAuditChainVerification = z.object({
  ok: z.boolean(),
  /** Entries checked (all of the org's, or those up to the first break). */
  checked: z.number().int().min(0),
  firstBrokenSeq: z.number().int().nullable(),
  reason: ZAuditChainBreak.nullable(),
});
export type TAuditChainVerification = z.infer<typeof ZAuditChainVerification>;

/**
 * Stream AUDIT, subject `audit.entries.append`: publish with msgID = eventId (JetStream drops a duplicate
 * publish within 2 minutes; the audit service dedupes by eventId forever). Other services may read the stream.
 */
export const auditEventContracts = {
  'audit.entries.append': defineEvent({ payload: ZAuditEvent, stream: 'AUDIT' }),
} as const;

export const auditContracts = {
  /**
   * An org's entries, newest first (by chain position `seq`), with filters. `nextCursor` is a keyset cursor:
   * entries appended while paging never shift a page (they are newer than the first page). A page ends early
   * (fewer than `limit` entries, with a cursor) when its size nears NATS' payload limit.
   */
  'audit.entries.list': defineRequest({
    request: z.object({
      orgId: ZOrgId,
      filters: ZAuditFilters.default({}),
      cursor: z.string().max(200).nullable().default(null),
      limit: z.number().int().min(1).max(AUDIT_LIST_MAX_LIMIT).default(50),
    }),
    reply: z.object({ entries: z.array(ZAuditEntry), nextCursor: z.string().nullable() }),
    errors: ['BAD_REQUEST'],
  }),
  /**
   * Walks the org's hash chain from its first entry: recomputes each entry's hash from its content, checks the
   * links, the positions and the chain head; reports the first break. An org without entries is `ok`.
   */
  'audit.chain.verify': defineRequest({
    request: z.object({ orgId: ZOrgId }).strict(),
    reply: ZAuditChainVerification,
    errors: ['BAD_REQUEST'],
  }),
} as const;
