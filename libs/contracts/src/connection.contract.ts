import { z } from 'zod';
import {
  ZConnectionFlow,
  ZConnectionStatus,
  ZHealthStatus,
  ZInstanceStatus,
  ZIsoDate,
  ZOAuthAction,
  ZOrgId,
  ZSiteId,
  ZSubdomain,
  ZUserId,
  ZUuid,
  ZVendor,
  ZSagaCommand,
  ZForgetIdempotencyRecords,
  ZForgetIdempotencyRecordsReply,
  ZIdempotencyKey,
} from './common.schema';
import { defineRequest } from './define';

export const ZInstanceConfig = z
  .object({
    /** Per-customer host part (ServiceNow `acme` → acme.service-now.com). Validated here, never taken from a request URL. */
    subdomain: ZSubdomain.optional(),
    /**
     * The provider site the org's connections use (Atlassian: a cloud id of accessible-resources), chosen by an admin
     * when a user's account reaches several. Every connection of the instance is on this site.
     */
    site: ZSiteId.optional(),
  })
  .strict();
export type TInstanceConfig = z.infer<typeof ZInstanceConfig>;

export const ZInstance = z.object({
  id: ZUuid,
  orgId: ZOrgId,
  vendor: ZVendor,
  status: ZInstanceStatus,
  config: ZInstanceConfig,
  /**
   * The provider organization the instance is pinned to (QuickBooks realm, HubSpot portal, Atlassian site,
   * ServiceNow host…): its first connection that named one set it, and every later connect, reconnect and change of
   * user must be of it, even after a disconnect (the synced data it left is that tenant's). Null: not pinned yet.
   * Optional for older readers; the connection service always sends it.
   */
  tenantId: z.string().nullable().optional(),
  /**
   * An unlink saga holds the instance (between its hold and its unpin, or its compensation): no connect starts.
   * Optional for older readers.
   */
  unlinkInProgress: z.boolean().optional(),
  /** When an admin last unlinked the instance from its tenant (its synced data erased); null: never. Optional. */
  tenantUnlinkedAt: ZIsoDate.nullable().optional(),
  /** From the instance's IntegrationHealth record (`unknown` until its first connect). */
  health: ZHealthStatus,
  healthCheckedAt: ZIsoDate.nullable(),
  /** Health checks run only while the instance is connected (a disconnect stops them). */
  healthChecksEnabled: z.boolean(),
  createdAt: ZIsoDate,
  updatedAt: ZIsoDate,
});
export type TInstance = z.infer<typeof ZInstance>;

/** Provider-specific, non-secret details of a connection (Postmark sender emails, Atlassian site name…). */
export const ZConnectionDetails = z
  .object({
    senderEmails: z.array(z.email()).max(50).optional(),
    accountLabel: z.string().max(200).optional(),
    siteName: z.string().max(200).optional(),
  })
  .strict();
export type TConnectionDetails = z.infer<typeof ZConnectionDetails>;

export const ZConnection = z.object({
  id: ZUuid,
  orgId: ZOrgId,
  instanceId: ZUuid,
  vendor: ZVendor,
  /** `app`: the org's shared connection (one per instance); `user`: a user's personal connection. */
  level: ZConnectionFlow,
  /** The Otesse user who owns the connection (for `app`, the admin who connected it). */
  userId: ZUserId,
  status: ZConnectionStatus,
  externalAccountId: z.string().nullable(),
  tenantId: z.string().nullable(),
  refreshTokenExpired: z.boolean(),
  /**
   * A reconnect / change-user saga holds the connection's lock for this purpose (`connection.connections.lock`);
   * null when none does. Optional for older readers; the connection service always sends it.
   */
  lockedFor: ZOAuthAction.nullable().optional(),
  details: ZConnectionDetails,
  connectedAt: ZIsoDate.nullable(),
  revokedAt: ZIsoDate.nullable(),
  createdAt: ZIsoDate,
  updatedAt: ZIsoDate,
});
export type TConnection = z.infer<typeof ZConnection>;

/** Inbound webhook endpoint of an instance: created enabled on its first connect, disabled (kept) on disconnect. */
/**
 * Why the receiver refused a delivery to an existing endpoint (401): no secret set yet, no signature (or basic
 * credentials), one that does not match the instance's secret, a signed timestamp missing or older than 5 minutes,
 * or a provider whose deliveries cannot be checked.
 */
export const ZWebhookRefusalReason = z.enum([
  'signature_no_secret',
  'signature_missing',
  'signature_mismatch',
  'timestamp_missing',
  'timestamp_stale',
  'signature_unsupported',
]);
export type TWebhookRefusalReason = z.infer<typeof ZWebhookRefusalReason>;

export const ZWebhookEndpoint = z.object({
  id: ZUuid,
  instanceId: ZUuid,
  /** The connection whose activation last enabled it. */
  connectionId: ZUuid.nullable(),
  /** Path on the edge: `/webhooks/<vendor>/<instanceId>`. */
  url: z.string(),
  status: z.enum(['enabled', 'disabled']),
  /** When the newest accepted delivery arrived; null: none yet. Optional for older readers. */
  lastDeliveryAt: ZIsoDate.nullable().optional(),
  /** The newest delivery refused for its signature, and why; null: none. Optional for older readers. */
  lastRefusal: z.object({ at: ZIsoDate, reason: ZWebhookRefusalReason }).nullable().optional(),
});
export type TWebhookEndpoint = z.infer<typeof ZWebhookEndpoint>;

/**
 * A connect's own steps (create, store, activate, and its clean-up's retries) take seconds: a pending connection
 * older than this was left by a connect that will never finish (an edge killed mid-callback). It no longer holds
 * its slot, and the connection service's sweep abandons it (`error`, `integrations.connection.abandoned`, whose
 * consumer in the vault destroys what was stored for it).
 */
export const STALE_PENDING_CONNECTION_MS = 2 * 60_000;

/** Connection ids one request may name (36 characters each: under the services' 256 KiB request limit). */
export const MAX_NAMED_CONNECTIONS = 5_000;

export const ZDependent = z.object({
  feature: z.string(),
  label: z.string(),
  /** What the feature loses when the integration goes away. */
  effect: z.string(),
});
export type TDependent = z.infer<typeof ZDependent>;

/** One slot of an instance: the org's connection, or one member's personal connection. */
export const ZConnectionSlot = z.discriminatedUnion('level', [
  z.object({ level: z.literal('app') }).strict(),
  z.object({ level: z.literal('user'), userId: ZUserId }).strict(),
]);
export type TConnectionSlot = z.infer<typeof ZConnectionSlot>;

/** An instance's live connections in numbers (a list may carry only some of them). */
export const ZInstanceConnectionCounts = z.object({
  /** Members with a connected personal connection. */
  connectedUsers: z.number().int().nonnegative(),
  /** Connected connections (either level) whose refresh token can no longer refresh. */
  refreshTokenExpired: z.number().int().nonnegative(),
  /** Live (pending, connected, disconnecting) personal connections of members other than the viewer. */
  otherMembersLive: z.number().int().nonnegative(),
});
export type TInstanceConnectionCounts = z.infer<typeof ZInstanceConnectionCounts>;

export const connectionContracts = {
  /**
   * Create-or-update the org's instance of a vendor with this config (replaces the stored config). CONFLICT
   * `instance_connected` when the subdomain would change while the instance is connected, `connect_in_progress`
   * while a (fresh) pending connection is mid-OAuth against the old host.
   */
  'connection.instances.configure': defineRequest({
    request: z.object({ orgId: ZOrgId, vendor: ZVendor, config: ZInstanceConfig }),
    reply: z.object({ instance: ZInstance }),
    errors: ['BAD_REQUEST', 'CONFLICT'],
  }),
  /**
   * The org's instance of a vendor with its connections, oldest first (history included: revoked, error). An
   * instance of a user-level provider gathers one connection per member who connected, and more with every
   * disconnect: a caller asks for the ones it needs (a slot, the newest with a site, none), so the reply stays the
   * size of that, not of the org. Unfiltered, every one (what callers before the filters received).
   */
  'connection.instances.get': defineRequest({
    request: z
      .object({
        orgId: ZOrgId,
        vendor: ZVendor,
        /** Only the connections of this external account (whether a grant is still in use: one indexed read). */
        externalAccountId: z.string().min(1).max(200).optional(),
        /** Only one slot's: the org's connection (`app`) or one member's personal connection. */
        slot: ZConnectionSlot.optional(),
        /** Only those that name a provider site (tenant): where the instance's site was last connected. */
        withTenant: z.literal(true).optional(),
        /** Only those in these statuses (a slot's failed connects pile up as `error`). */
        statuses: z.array(ZConnectionStatus).min(1).max(5).optional(),
        /** At most the newest this many of those matching (still answered oldest first). */
        newest: z.number().int().min(1).max(1_000).optional(),
        /** false: the instance and its webhook endpoint only, no connection. */
        withConnections: z.boolean().optional(),
      })
      .strict(),
    reply: z.object({
      instance: ZInstance.nullable(),
      /** The instance's connections the request asked for, oldest first. */
      connections: z.array(ZConnection),
      webhookEndpoint: ZWebhookEndpoint.nullable(),
    }),
    errors: ['BAD_REQUEST'],
  }),
  /**
   * The other members' live personal connections to a vendor, a page at a time, oldest first (an admin's list
   * carries the first ones; this pages through the rest). `after`: the last connection of the previous page.
   */
  'connection.instances.member-connections': defineRequest({
    request: z
      .object({
        orgId: ZOrgId,
        vendor: ZVendor,
        /** The viewer: their own connection is not a member's. */
        exceptUserId: ZUserId,
        after: ZUuid.optional(),
        limit: z.number().int().min(1).max(200),
      })
      .strict(),
    reply: z.object({
      connections: z.array(ZConnection),
      /** Pass as `after` for the next page; null on the last. */
      nextAfter: ZUuid.nullable(),
    }),
    errors: ['BAD_REQUEST'],
  }),
  /**
   * Who keeps an instance connected once one of its connections goes: the instance's other live connections, in
   * counts, with a few of the members who hold them (a disconnect's preview names up to three). Another org's
   * connection: NOT_FOUND.
   */
  'connection.instances.keepers': defineRequest({
    request: z
      .object({
        orgId: ZOrgId,
        /** The connection being disconnected: never counted. */
        connectionId: ZUuid,
        /** Whose own personal connection counts as `yours` (the caller). */
        viewerUserId: ZUserId,
        /** How many members' user ids to name at most (oldest connections first). */
        sample: z.number().int().min(0).max(20),
      })
      .strict(),
    reply: z.object({
      instance: ZInstance,
      /** The org's (app-level) connection is live. */
      organization: z.boolean(),
      /** The viewer's own personal connection is live. */
      yours: z.boolean(),
      /** Other members' live personal connections. */
      members: z.number().int().nonnegative(),
      /** Up to `sample` of those members. */
      memberUserIds: z.array(ZUserId),
    }),
    errors: ['BAD_REQUEST', 'NOT_FOUND'],
  }),
  /**
   * How many live connections hold an external account's grant at a vendor, counted in every org: a deployment has
   * one OAuth client per vendor, so the same account connected in two orgs shares one grant, and a provider whose
   * revocation ends the whole grant (Google) ends both. Only counts leave the service, never another org's
   * connections. `exceptConnectionId`: the connection asking (the one whose tokens would be revoked).
   */
  'connection.accounts.grant-holders': defineRequest({
    request: z
      .object({
        orgId: ZOrgId,
        vendor: ZVendor,
        externalAccountId: z.string().min(1).max(300),
        exceptConnectionId: ZUuid.optional(),
      })
      .strict(),
    reply: z.object({
      holders: z.object({
        pending: z.number().int().nonnegative(),
        connected: z.number().int().nonnegative(),
        disconnecting: z.number().int().nonnegative(),
      }),
    }),
    errors: ['BAD_REQUEST'],
  }),
  /**
   * Every instance of the org with its connections (the edge joins it with the catalogue). Ended ones (`revoked`,
   * `error`) pile up with every disconnect and failed connect: with `endedConnectionIds`, only those named are listed
   * (the ones a caller still needs: an operation open on them, a job that syncs for them); unset, all of them (what
   * callers before it received). Live ones grow with the org (one per member of a user-level provider): with
   * `viewer`, only the org's, the viewer's own and at most `othersLimit` of the other members' per instance, oldest
   * first, and `counts` says how many there are; then the ended ones only among `endedConnectionIds` (unset: none):
   * those the viewer may see (the org's, their own, other members' with `namedOthers`), at most `namedLimit` per
   * instance (the org's and the viewer's first, then the newest) and `namedTotal` says how many. Without `viewer`,
   * every live one and every one named. At most 5,000 named: the request stays under the services' 256 KiB.
   */
  'connection.integrations.list': defineRequest({
    request: z
      .object({
        orgId: ZOrgId,
        /**
         * Only this instance: the reply carries it alone (none when it is not the org's), and its connections are
         * read without looking at the org's other instances (a panel of one instance, refreshed while a job runs).
         */
        instanceId: ZUuid.optional(),
        endedConnectionIds: z.array(ZUuid).max(MAX_NAMED_CONNECTIONS).optional(),
        viewer: z
          .object({
            userId: ZUserId,
            othersLimit: z.number().int().min(0).max(500),
            /**
             * Also the newest this many ended connections of the org's slot and of the viewer's slot per instance
             * (a disconnect keeps their sync jobs, disabled, until a reconnection takes them over).
             */
            slotHistory: z.number().int().min(0).max(50).optional(),
            /** Of `endedConnectionIds`, at most this many per instance (default 100). */
            namedLimit: z.number().int().min(1).max(500).optional(),
            /** Other members' named connections too (default true: a viewer who may act on them). */
            namedOthers: z.boolean().optional(),
          })
          .strict()
          .optional(),
      })
      .strict(),
    reply: z.object({
      instances: z.array(
        z.object({
          instance: ZInstance,
          connections: z.array(ZConnection),
          /** The instance's live connections, counted whatever the reply leaves out. Optional for older readers. */
          counts: ZInstanceConnectionCounts.optional(),
          /**
           * With `viewer`: where the other members' connections left out begin, as the `after` of
           * `connection.instances.member-connections` (the last one carried, in their order); null when none is left out,
           * or when `othersLimit` is 0 (page from the start).
           */
          othersNext: ZUuid.nullable().optional(),
          /** With `viewer`: how many of the named connections the viewer may see are this instance's. */
          namedTotal: z.number().int().nonnegative().optional(),
        }),
      ),
    }),
    errors: ['BAD_REQUEST'],
  }),
  'connection.connections.get': defineRequest({
    request: z.object({ orgId: ZOrgId, connectionId: ZUuid }),
    reply: z.object({ connection: ZConnection, instance: ZInstance }),
    errors: ['BAD_REQUEST', 'NOT_FOUND'],
  }),
  /**
   * Start a connection: reuses the org's instance of the vendor (revoked/error → pending) or creates it, and
   * creates the connection `pending`. CONFLICT (`already_connected`) when the instance already has a connected
   * app-level connection, or this user a connected user-level one; CONFLICT (`connect_in_progress`, details
   * `{connectionId, retryAfterSec}`) when that slot's connection is still `pending` (another connect is finishing,
   * or was left by an edge that died: a connect after `retryAfterSec` takes the slot over); CONFLICT
   * (`disconnect_in_progress`) while that slot's connection is `disconnecting` (a disconnect saga holds it), or
   * while the disconnect of the instance's last live connection holds the instance; a
   * pending one older than STALE_PENDING_CONNECTION_MS does not count (it is marked `error`).
   */
  'connection.connections.create': defineRequest({
    request: z.object({
      orgId: ZOrgId,
      vendor: ZVendor,
      level: ZConnectionFlow,
      userId: ZUserId,
      externalAccountId: z.string().min(1).max(300).nullable(),
      tenantId: z.string().min(1).max(300).nullable(),
      details: ZConnectionDetails.default({}),
    }),
    reply: z.object({ instance: ZInstance, connection: ZConnection }),
    errors: ['BAD_REQUEST', 'CONFLICT'],
  }),
  /**
   * Credentials are stored: the connection and its instance become `connected` (health `healthy` with checks on,
   * webhook endpoint enabled); then publishes `integrations.connection.connected` with msgID `eventId`.
   * The event is owed in the activation's transaction (the connection service's event outbox) and published after
   * the commit, then by the service's sweep until JetStream acknowledges it. Idempotent: an already-connected
   * connection publishes its event if still owed (same msgID) and is returned. UNAVAILABLE when publishing failed
   * after the commit: the event stays owed (a retry, or the sweep, publishes it). CONFLICT `not_pending`
   * when the connection is no longer pending (abandoned, stale, revoked…).
   */
  'connection.connections.activate': defineRequest({
    request: z.object({ orgId: ZOrgId, connectionId: ZUuid, eventId: ZUuid }),
    reply: z.object({ instance: ZInstance, connection: ZConnection }),
    errors: ['BAD_REQUEST', 'NOT_FOUND', 'CONFLICT', 'UNAVAILABLE'],
  }),
  /**
   * A connect that failed half-way: the pending connection ends `error` (the instance goes back to what it was
   * when no other connection is live). Idempotent for an `error` connection; CONFLICT `not_pending` otherwise.
   * `cancelledBy`: a person ended it (the dashboard's Cancel connect, reason `connect_cancelled`), so its
   * `connection.connect_failed` audit entry, naming them, is owed with the abandoned event in the same transaction.
   */
  'connection.connections.abandon': defineRequest({
    request: z.object({
      orgId: ZOrgId,
      connectionId: ZUuid,
      reason: z.string().min(1).max(200),
      cancelledBy: z
        .object({ userId: ZUserId, ip: z.string().max(64).nullable() })
        .strict()
        .optional(),
    }),
    reply: z.object({ connection: ZConnection }),
    errors: ['BAD_REQUEST', 'NOT_FOUND', 'CONFLICT'],
  }),
  /** Email Builder "From" dropdown: sender emails of the org's connected email-category (Postmark) connections. */
  'connection.email-builder.from-options': defineRequest({
    request: z.object({ orgId: ZOrgId }),
    reply: z.object({
      options: z.array(z.object({ email: z.email(), vendor: ZVendor, connectionId: ZUuid })),
    }),
    errors: ['BAD_REQUEST'],
  }),
  /** Product features that depend on a vendor (the seed's "Disconnecting may affect [dependent]."). */
  'connection.dependents.list': defineRequest({
    request: z.object({ orgId: ZOrgId, vendor: ZVendor }),
    reply: z.object({ dependents: z.array(ZDependent) }),
    errors: ['BAD_REQUEST'],
  }),
  /**
   * Disconnect saga step 1: authorization and the semantic lock. connected (or error) → `disconnecting`,
   * remembering the status it left. CONFLICT `already_disconnecting` (another saga holds it), `not_connected` (pending/revoked), `locked` (a
   * reconnect / change-user saga holds `connection.connections.lock`: it completes or unlocks first). Idempotent by key.
   */
  'connection.connections.begin-disconnect': defineRequest({
    request: ZSagaCommand.extend({
      /**
       * Who asks, for the seed's rule: one's own user-level connection, or anyone's in the org when the edge vouches
       * for settings.edit; otherwise FORBIDDEN `not_owner` (and another org's connection NOT_FOUND, as always).
       * Absent: the edge authorized the saga before sending (disconnect sagas of definition version 1).
       */
      actor: z.object({ userId: ZUuid, mayManageOthers: z.boolean() }).strict().optional(),
    }).strict(),
    reply: z.object({
      connection: ZConnection,
      instance: ZInstance,
      /**
       * This was the instance's last live connection: the instance is held for this saga until its statuses (no
       * connect of any slot meanwhile, CONFLICT `disconnect_in_progress`), so step 5 will revoke it. Absent in
       * replies stored before the hold existed (read as false).
       */
      instanceRevoking: z.boolean().optional(),
      /**
       * Another pending or connected connection, of any org, holds the same external account at this vendor: for a
       * provider whose revocation ends the account's whole grant to our client (Google), revoking this connection's
       * tokens would end that one's too. As of the lock; one account's locks take turns (an advisory lock), so of two
       * disconnects at once the later sees the other `disconnecting`. Absent in replies stored before it existed (ask
       * `connection.accounts.grant-holders`).
       */
      accountGrantInUse: z.boolean().optional(),
    }),
    errors: ['BAD_REQUEST', 'NOT_FOUND', 'FORBIDDEN', 'CONFLICT'],
  }),
  /** Compensation of begin-disconnect: lift the lock held by this saga, back to the status it left. Idempotent. */
  'connection.connections.cancel-disconnect': defineRequest({
    request: ZSagaCommand,
    reply: z.object({ connection: ZConnection }),
    errors: ['BAD_REQUEST', 'NOT_FOUND'],
  }),
  /**
   * Disconnect saga step 5, in one transaction: connection `revoked` (+ revokedAt). When no other connection of the
   * instance is live (pending/connected/disconnecting) the instance is `revoked` (row kept), its inbound webhook
   * endpoint `disabled` (kept) and its health `unknown` with checks stopped; otherwise the instance stays as it is
   * (other users keep it connected), with its webhooks and health checks (per instance, not per connection).
   * Special case: when the only other live connections are still `pending` (a connect mid-OAuth), the instance
   * becomes `pending` remembering `revoked` (an abandoned connect puts it back to revoked) and `instanceRevoked`
   * is true. CONFLICT `not_disconnecting` when begin-disconnect did not run, `already_disconnecting` when another
   * saga holds the lock. Idempotent by key; a connection this saga already revoked answers its state again.
   * UNAVAILABLE `completed_concurrently` (retry) in the rare race with a duplicate under another key.
   */
  'connection.connections.complete-disconnect': defineRequest({
    request: ZSagaCommand,
    reply: z.object({
      connection: ZConnection,
      instance: ZInstance,
      instanceRevoked: z.boolean(),
      webhooksDisabled: z.number().int().min(0),
      healthChecksStopped: z.boolean(),
    }),
    errors: ['BAD_REQUEST', 'NOT_FOUND', 'CONFLICT', 'UNAVAILABLE'],
  }),
  /**
   * invalid_grant on refresh (the vault): set refreshTokenExpired and publish
   * `integrations.connection.refresh_token_expired` after the commit, msgID = its event id. The first call's
   * `eventId` is kept: the event (and a copy of its audit entry) is owed in the flag's transaction and published
   * after the commit, then by the service's sweep until acknowledged; a repeated call (changed: false) publishes
   * what is still owed and answers it, so a caller that saw UNAVAILABLE (publish failed after the commit) need not
   * retry for the event's sake.
   * `credentialId` names the refresh token that died: when a reconnect has since retired it (complete-reconnect's
   * `retiredCredentialIds`), the mark is stale — the connection has new tokens — and is refused with CONFLICT
   * `credential_replaced`, nothing changed.
   */
  'connection.connections.mark-refresh-expired': defineRequest({
    request: z
      .object({
        orgId: ZOrgId,
        connectionId: ZUuid,
        eventId: ZUuid,
        credentialId: ZUuid.optional(),
      })
      .strict(),
    reply: z.object({
      connection: ZConnection,
      changed: z.boolean(),
      /** The event id stored by the call that set the flag (dedupe key for the event and its audit entry). */
      eventId: ZUuid,
      /** When the flag was set (the event's occurredAt). */
      expiredAt: ZIsoDate,
    }),
    errors: ['BAD_REQUEST', 'NOT_FOUND', 'CONFLICT', 'UNAVAILABLE'],
  }),
  /**
   * Reconnect / change-user saga step 1: the connection's semantic lock for `purpose`, the connection staying
   * `connected` (syncing and token refresh go on; `connection.lockedFor` shows it). CONFLICT `disconnecting` (a
   * disconnect holds it), `locked` (another saga, or this saga for the other purpose; details.purpose),
   * `not_connected` (pending/revoked/error: an expired refresh token never makes a connection `error` — it stays
   * connected with refreshTokenExpired — so `error` means a failed connect, fixed by connecting anew).
   * begin-disconnect answers CONFLICT `locked` while this lock is held, so of a reconnect and a disconnect of one
   * connection exactly one proceeds. The same saga again (another key) is answered as done. Idempotent by key.
   * No expiry: the saga must complete or unlock (its compensation). `expectedExternalAccountId`: the account the
   * edge saw when it checked the authorization (null: none recorded); when the connection's account is another
   * by now (a change of user completed meanwhile) the lock is refused, CONFLICT `account_changed`, so the checks
   * made against the old account never apply to the new one.
   */
  'connection.connections.lock': defineRequest({
    request: z
      .object({
        orgId: ZOrgId,
        connectionId: ZUuid,
        sagaId: ZUuid,
        purpose: z.enum(['reconnect', 'changeUser']),
        expectedExternalAccountId: z.string().min(1).max(300).nullable().optional(),
        idempotencyKey: z.string().min(1).max(200),
      })
      .strict(),
    reply: z.object({ connection: ZConnection, instance: ZInstance }),
    errors: ['BAD_REQUEST', 'NOT_FOUND', 'CONFLICT'],
  }),
  /** Compensation of lock: lifts it only when this saga holds it (otherwise a no-op). Idempotent. */
  'connection.connections.unlock': defineRequest({
    request: ZSagaCommand,
    reply: z.object({ connection: ZConnection }),
    errors: ['BAD_REQUEST', 'NOT_FOUND'],
  }),
  /**
   * After the vault swapped the credentials, only while this saga holds the lock taken for `action`: clears
   * refreshTokenExpired, records externalAccountId / tenantId as given (the edge compared account and tenant
   * before the swap: this service does not refuse after it) and the details (given fields replace stored ones,
   * others are kept; a change of user drops the previous account's accountLabel: the edge gives the new
   * identity's own label, or none), remembers `retiredCredentialIds` (the swap's: a late refresh expiry of one of them flags nothing), lifts the
   * lock; the status stays `connected`. Then publishes `integrations.connection.reconnected` (reconnect) or
   * `integrations.connection.user_changed` (changeUser) after the commit, msgId = eventId, payload
   * ZConnectionReconnectedEvent (occurredAt = the commit's time). The instance, other connections, webhooks, jobs
   * and references are untouched (the instance's next health check is made due now). CONFLICT `not_locked`,
   * `locked` (another saga), `disconnecting`, `lock_purpose_mismatch`. UNAVAILABLE when publishing failed after
   * the commit: retry with the same key. Idempotent by key (a replay re-publishes the same event).
   */
  'connection.connections.complete-reconnect': defineRequest({
    request: z
      .object({
        orgId: ZOrgId,
        connectionId: ZUuid,
        sagaId: ZUuid,
        action: z.enum(['reconnect', 'changeUser']),
        externalAccountId: z.string().min(1).max(300),
        tenantId: z.string().min(1).max(300).nullable(),
        details: ZConnectionDetails.default({}),
        /** The credentials the swap retired (vault ids). */
        retiredCredentialIds: z.array(ZUuid).max(20).default([]),
        eventId: ZUuid,
        actorUserId: ZUserId,
        idempotencyKey: z.string().min(1).max(200),
      })
      .strict(),
    reply: z.object({ connection: ZConnection, previousExternalAccountId: z.string().nullable() }),
    errors: ['BAD_REQUEST', 'NOT_FOUND', 'CONFLICT', 'UNAVAILABLE'],
  }),
  /**
   * The inbound endpoint at `/webhooks/<vendor>/<instanceId>`, for the edge's receiver, which knows only the path:
   * by instance id alone, with the org it belongs to. NOT_FOUND when the instance has no endpoint (never connected)
   * or is another provider's.
   */
  'connection.webhook-endpoints.resolve': defineRequest({
    request: z.object({ instanceId: ZUuid, vendor: ZVendor }).strict(),
    reply: z.object({ orgId: ZOrgId, endpoint: ZWebhookEndpoint }),
    errors: ['BAD_REQUEST', 'NOT_FOUND'],
  }),
  /**
   * The edge's receiver refused a delivery to this endpoint for its signature: kept as the endpoint's last refusal
   * (when and why, never the delivery), so an admin setting webhooks up sees what goes wrong. Never moves back;
   * `recorded: false` when a newer one is already there or the endpoint is not the org's.
   */
  'connection.webhook-endpoints.record-refusal': defineRequest({
    request: z
      .object({
        orgId: ZOrgId,
        instanceId: ZUuid,
        endpointId: ZUuid,
        reason: ZWebhookRefusalReason,
        at: ZIsoDate,
      })
      .strict(),
    reply: z.object({ recorded: z.boolean() }),
    errors: ['BAD_REQUEST'],
  }),
  /**
   * Unlink saga step 1 (compensatable): the org's instance is held for this saga (`unlinkInProgress`) so nothing of it
   * becomes live until the pin is cleared or the hold lifted: `connection.connections.create` answers CONFLICT
   * `unlink_in_progress`, and so do `connection.instances.configure` and the begin-disconnect of an `error`
   * connection of the instance. Under the instance's row lock. Refused, with
   * nothing changed: NOT_FOUND (no such instance in the org), PRECONDITION_FAILED `not_pinned` (no tenant to
   * unlink) or `tenant_changed` (the pin is not `expectedTenantId`: the caller's dialog is stale), CONFLICT
   * `instance_in_use` (a connection is pending, connected or disconnecting: disconnect everyone first, details
   * `{live}`), `disconnect_in_progress` (a disconnect holds it) or `unlink_in_progress` (another unlink saga holds
   * it). Idempotent by key; the same saga again answers its hold.
   */
  'connection.instances.hold-for-unlink': defineRequest({
    request: z
      .object({
        orgId: ZOrgId,
        instanceId: ZUuid,
        sagaId: ZUuid,
        idempotencyKey: ZIdempotencyKey,
        /** The tenant the admin confirmed (typed in the dialog): the pin must still be this one. */
        expectedTenantId: z.string().min(1).max(300),
      })
      .strict(),
    reply: z.object({
      instance: ZInstance,
      /** The instance's ended (revoked, error) connections: kept as history, with their tenant. */
      endedConnections: z.number().int().nonnegative(),
    }),
    errors: ['BAD_REQUEST', 'NOT_FOUND', 'PRECONDITION_FAILED', 'CONFLICT'],
  }),
  /**
   * Compensation of hold-for-unlink: lifts this saga's hold (none held: nothing to do), and settles the hold's key
   * (`<sagaId>:hold`) with a reply that did nothing, so a hold still on its way never holds for a saga that ended.
   * Idempotent.
   */
  'connection.instances.cancel-unlink': defineRequest({
    request: z
      .object({ orgId: ZOrgId, instanceId: ZUuid, sagaId: ZUuid, idempotencyKey: ZIdempotencyKey })
      .strict(),
    reply: z.object({ released: z.boolean() }),
    errors: ['BAD_REQUEST', 'NOT_FOUND'],
  }),
  /**
   * Unlink saga step 3 (after the synced data was erased): the instance's pin is cleared (`tenantId` null,
   * `config.site` removed: the site is the Atlassian tenant), `tenantUnlinkedAt` set (a connection created before
   * it no longer names the instance's site, `withTenant`), and the hold lifted, in one transaction. The next
   * connection that names a tenant pins the instance again. CONFLICT `not_held` when this saga does not hold the
   * instance (and never unpinned it). Idempotent by key: a replay answers the first result.
   */
  'connection.instances.unpin-tenant': defineRequest({
    request: z
      .object({ orgId: ZOrgId, instanceId: ZUuid, sagaId: ZUuid, idempotencyKey: ZIdempotencyKey })
      .strict(),
    reply: z.object({
      instance: ZInstance,
      previousTenantId: z.string(),
      /** When the pin was cleared (the database's clock): the event's occurredAt. */
      unlinkedAt: ZIsoDate,
    }),
    errors: ['BAD_REQUEST', 'NOT_FOUND', 'CONFLICT'],
  }),
  /**
   * The edge releases the idempotency records of sagas that ended longer ago than its retention (they never send
   * again): each key's row in this service's `processed_command` is deleted. Only saga keys; one the service never
   * saw is skipped. Idempotent.
   */
  'connection.idempotency-records.forget': defineRequest({
    request: ZForgetIdempotencyRecords,
    reply: ZForgetIdempotencyRecordsReply,
    errors: ['BAD_REQUEST'],
  }),
} as const;
