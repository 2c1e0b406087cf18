import { z } from 'zod';
import { ZConnectionFlow, ZIsoDate, ZOrgId, ZUserId, ZUuid, ZVendor } from './common.schema';
import { defineEvent } from './define';
import { WEBHOOK_MAX_BODY_BYTES } from './webhook.schema';

const ZEventBase = z.object({
  eventId: ZUuid,
  occurredAt: ZIsoDate,
  orgId: ZOrgId,
});

/**
 * A connection became connected (published by the connection service after its commit, msgID = eventId; a
 * retried activation re-publishes the same event). occurredAt is the connection's connectedAt.
 */
export const ZConnectionConnectedEvent = ZEventBase.extend({
  vendor: ZVendor,
  instanceId: ZUuid,
  connectionId: ZUuid,
  level: ZConnectionFlow,
  userId: ZUserId,
  externalAccountId: z.string().nullable(),
  tenantId: z.string().nullable(),
  /** true when a revoked instance was reused (reconnection after a disconnect). */
  instanceReused: z.boolean(),
});
export type TConnectionConnectedEvent = z.infer<typeof ZConnectionConnectedEvent>;

/**
 * A disconnect saga finished (published by the edge's saga after the statuses, msgID = eventId; a retry or a resumed
 * saga re-publishes the same event). occurredAt is when the connection was revoked (the connection service's
 * `revokedAt`, the database's clock), so a re-publish carries the very same event, and a subscriber can order it
 * against a later `connected` of the same slot even when this event is published after it (a saga resumed late).
 * Derive an instance's state per connectionId: another connection may keep (or revive) the instance.
 */
export const ZConnectionDisconnectedEvent = ZEventBase.extend({
  vendor: ZVendor,
  instanceId: ZUuid,
  connectionId: ZUuid,
  sagaId: ZUuid,
  actorUserId: ZUserId,
  ownerUserId: ZUserId,
  /** The connection's level (absent in events published before session 19). */
  level: ZConnectionFlow.optional(),
  /** The provider account the connection held (absent in events published before session 19). */
  externalAccountId: z.string().nullable().optional(),
  instanceRevoked: z.boolean(),
  revocationSucceeded: z.boolean(),
  syncJobsDisabled: z.number().int().min(0),
  executionsCancelled: z.number().int().min(0),
  credentialsDeleted: z.number().int().min(0),
  referencesMarkedStale: z.number().int().min(0),
});

/**
 * The provider refused the connection's refresh token (invalid_grant, or ServiceNow's 401): the connection needs a
 * reconnect (seed 003). Published by the connection service, msgID = eventId; occurredAt is when the flag was set.
 */
export const ZRefreshTokenExpiredEvent = ZEventBase.extend({
  vendor: ZVendor,
  instanceId: ZUuid,
  connectionId: ZUuid,
  level: ZConnectionFlow,
  /** The connection's owner (who is asked to reconnect). */
  userId: ZUserId,
});

/**
 * A reconnect (`integrations.connection.reconnected`: same account, refreshTokenExpired cleared) or a change of
 * the connected user (`integrations.connection.user_changed`) completed (seed 003). Published by the connection
 * service after the commit of `connection.connections.complete-reconnect`, msgID = eventId; a replay re-publishes
 * the same event. occurredAt is the commit's time; previousExternalAccountId is null when none was recorded.
 */
export const ZConnectionReconnectedEvent = ZEventBase.extend({
  vendor: ZVendor,
  instanceId: ZUuid,
  connectionId: ZUuid,
  sagaId: ZUuid,
  actorUserId: ZUserId,
  action: z.enum(['reconnect', 'changeUser']),
  previousExternalAccountId: z.string().nullable(),
  externalAccountId: z.string(),
  tenantId: z.string().nullable(),
  /** The connection's level (absent in events published before session 19). */
  level: ZConnectionFlow.optional(),
  /** The connection's owner (absent in events published before session 19). */
  userId: ZUserId.optional(),
});

/**
 * A connect that never finished: its pending connection ended `error` (the edge's clean-up after a failed connect,
 * or the connection service's sweep of pending connects older than STALE_PENDING_CONNECTION_MS, e.g. an edge killed
 * mid-callback). Published from the connection's outbox after the commit, msgID = eventId (re-published until
 * acknowledged). The vault consumes it: it destroys whatever it stored for the connection and refuses to store
 * more, so no credential outlives a connect that never became a connection.
 */
export const ZConnectionAbandonedEvent = ZEventBase.extend({
  vendor: ZVendor,
  instanceId: ZUuid,
  connectionId: ZUuid,
  level: ZConnectionFlow,
  /** Who started the connect. */
  userId: ZUserId,
  /**
   * `connect_failed` (the edge's clean-up), `connect_expired` (the sweep), `stale_pending` (a new connect found it),
   * `connect_cancelled` (a person cancelled it from the dashboard).
   */
  reason: z.string().min(1).max(200),
});
export type TConnectionAbandonedEvent = z.infer<typeof ZConnectionAbandonedEvent>;

/**
 * An admin unlinked an instance from its tenant (the provider organization it was pinned to): its synced records
 * and external references are erased and the next connect may be of another tenant. Published by the edge's unlink
 * saga after the pin was cleared, msgID = eventId (a retry or a resumed saga re-publishes the same event);
 * occurredAt is when the pin was cleared (the database's clock). A subscriber that keeps data derived from the
 * instance's records drops it: the tenant it came from is no longer the org's.
 */
export const ZInstanceUnlinkedEvent = ZEventBase.extend({
  vendor: ZVendor,
  instanceId: ZUuid,
  sagaId: ZUuid,
  actorUserId: ZUserId,
  previousTenantId: z.string(),
  recordsErased: z.number().int().min(0),
  referencesErased: z.number().int().min(0),
});
export type TInstanceUnlinkedEvent = z.infer<typeof ZInstanceUnlinkedEvent>;

/**
 * A provider's delivery to an instance's inbound endpoint, signature checked, endpoint enabled. Published by the
 * edge's receiver before it answers 202, msgID `webhook:<instanceId>:<deliveryId or the body's SHA-256>` (a
 * provider's retry within the stream's duplicate window is stored once), and only once per signed delivery (endpoint,
 * body, signed timestamp) within the edge's EDGE_WEBHOOK_DEDUPE_RETENTION_MS: a copy is answered and not published
 * again, whatever its delivery id. The body is the delivery's, as text;
 * occurredAt is when the edge received it. The sync scheduler consumes it (the instance's enabled jobs run soon);
 * other Otesse services may too.
 */
export const ZWebhookReceivedEvent = ZEventBase.extend({
  vendor: ZVendor,
  instanceId: ZUuid,
  endpointId: ZUuid,
  /** The provider's delivery id header, when its scheme names one. */
  deliveryId: z.string().max(200).nullable(),
  contentType: z.string().max(200).nullable(),
  body: z.string().max(WEBHOOK_MAX_BODY_BYTES),
  bodySha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type TWebhookReceivedEvent = z.infer<typeof ZWebhookReceivedEvent>;

/**
 * Events other Otesse services consume: the domain events in JetStream stream INTEGRATIONS (`integrations.connection.>`,
 * `integrations.instance.>`),
 * the inbound webhook deliveries in WEBHOOKS (`integrations.webhook.>`, kept a day).
 */
export const integrationEventContracts = {
  'integrations.connection.reconnected': defineEvent({
    payload: ZConnectionReconnectedEvent,
    stream: 'INTEGRATIONS',
  }),
  'integrations.connection.user_changed': defineEvent({
    payload: ZConnectionReconnectedEvent,
    stream: 'INTEGRATIONS',
  }),
  'integrations.connection.disconnected': defineEvent({
    payload: ZConnectionDisconnectedEvent,
    stream: 'INTEGRATIONS',
    about:
      "A disconnect finished. occurredAt is when the connection was revoked (the database clock), the same on every re-publish; a saga resumed late may publish it after a later `connected` of the same slot, so order by occurredAt and derive an instance's state per connectionId (another connection may keep or revive it).",
  }),
  'integrations.connection.refresh_token_expired': defineEvent({
    payload: ZRefreshTokenExpiredEvent,
    stream: 'INTEGRATIONS',
    about:
      "The provider refused the connection's refresh token: its owner (userId) must reconnect (seed 003). occurredAt is when the flag was set.",
  }),
  'integrations.connection.connected': defineEvent({
    payload: ZConnectionConnectedEvent,
    stream: 'INTEGRATIONS',
    about:
      'A connection became connected. occurredAt is its connectedAt; instanceReused says a revoked instance came back (a reconnection after a disconnect).',
  }),
  'integrations.connection.abandoned': defineEvent({
    payload: ZConnectionAbandonedEvent,
    stream: 'INTEGRATIONS',
  }),
  'integrations.instance.unlinked': defineEvent({
    payload: ZInstanceUnlinkedEvent,
    stream: 'INTEGRATIONS',
    about:
      "An admin unlinked the instance from its tenant: the synced records and references it held are erased, and the next connect may be of another provider organization. Drop what you derived from the instance's records. occurredAt is when the pin was cleared.",
  }),
  'integrations.webhook.received': defineEvent({
    payload: ZWebhookReceivedEvent,
    stream: 'WEBHOOKS',
    // Each delivery gets a fresh eventId: the provider's retry is the same delivery, not the same event.
    delivery: {
      msgId: 'webhook:<instanceId>:<deliveryId, else bodySha256>',
      dedupeBy:
        'instanceId with deliveryId (else bodySha256): a provider retries after the duplicate window too',
      published:
        "Published when the signature checked out, before the provider is answered 202, and once per signed delivery: a copy with the same endpoint, body and signed timestamp (whatever its delivery id) within the edge's EDGE_WEBHOOK_DEDUPE_RETENTION_MS (7 days; a scheme that signs a timestamp has its copies refused as stale after 5 minutes, and its record kept 15) is answered 202 and not published again; a retry the provider signs anew (a new timestamp) is published again. Basic credentials (Postmark, ServiceNow) sign nothing and are not recorded: an identical body within the JetStream duplicate window (2 minutes) is stored once, after it published again (a ServiceNow rule should put sys_id and sys_updated_on in its body)",
    },
  }),
} as const;
