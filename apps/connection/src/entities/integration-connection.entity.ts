import { EntitySchema } from '@mikro-orm/core';
import {
  ZConnectionFlow,
  ZConnectionStatus,
  ZOAuthAction,
  type TConnectionDetails,
  type TConnectionFlow,
  type TConnectionStatus,
  type TOAuthAction,
} from '@otesse/contracts';

/** Statuses that hold the connection's slot: at most one per instance (app) or per (instance, user) (user). */
export const LIVE_CONNECTION_STATUSES = ['pending', 'connected', 'disconnecting'] as const;
/** The live statuses as an SQL list (constants, never input): `'pending', 'connected', 'disconnecting'`. */
export const LIVE_SQL = LIVE_CONNECTION_STATUSES.map((s) => `'${s}'`).join(', ');

/**
 * An app-level (the org's shared one) or user-level connection to an instance. "At most one live
 * (pending/connected/disconnecting) app-level connection per instance" and "one live user-level connection per
 * (instance, user)" are partial unique indexes, added by hand in the migration (MikroORM can't express them).
 */
export interface IntegrationConnection {
  id: string;
  orgId: string;
  instanceId: string;
  /** Denormalised from the instance so per-vendor reads need no join. */
  vendor: string;
  level: TConnectionFlow;
  userId: string;
  status: TConnectionStatus;
  externalAccountId: string | null;
  tenantId: string | null;
  refreshTokenExpired: boolean;
  /** Non-secret provider details (Postmark sender emails, account label…). */
  details: TConnectionDetails;
  /** Why it ended `error` (abandon reason, `stale_pending`). */
  errorReason: string | null;
  /** The activating instance had been revoked before (reported in the connected event, stable on re-publish). */
  instanceReused: boolean;
  /** msgID of its `integrations.connection.connected` event: a repeated activation re-publishes the same one. */
  connectedEventId: string | null;
  connectedAt: Date | null;
  revokedAt: Date | null;
  /** The disconnect saga holding the semantic lock (`disconnecting`), kept once it revoked the connection. */
  disconnectSagaId: string | null;
  /** The status begin-disconnect moved the connection away from (cancel-disconnect goes back to it). */
  statusBeforeDisconnect: TConnectionStatus | null;
  /**
   * The reconnect / change-user saga holding the connection's semantic lock while it stays `connected` (syncs go
   * on; no disconnect, no other reconnect). Null: not locked. Set and lifted together with lockPurpose/lockedAt.
   */
  lockSagaId: string | null;
  lockPurpose: TOAuthAction | null;
  lockedAt: Date | null;
  /** msgID of its `integrations.connection.refresh_token_expired` event (re-published as is on a repeat). */
  refreshTokenExpiredEventId: string | null;
  /** When refreshTokenExpired was set (the event's occurredAt). */
  refreshTokenExpiredAt: Date | null;
  /**
   * Credentials (vault ids) that reconnects retired, newest last, at most RETIRED_CREDENTIALS_KEPT: a refresh
   * expiry the vault reports for one of them is stale (the reconnect replaced it) and flags nothing.
   */
  retiredCredentialIds: string[];
  createdAt: Date;
  updatedAt: Date;
}

export const IntegrationConnectionSchema = new EntitySchema<IntegrationConnection>({
  name: 'IntegrationConnection',
  tableName: 'integration_connection',
  indexes: [
    { name: 'integration_connection_org_idx', properties: ['orgId', 'vendor'] },
    { name: 'integration_connection_instance_idx', properties: ['instanceId', 'status'] },
    // Partial unique indexes as raw SQL (EntitySchema has no `where` for indexes); the creates race on these.
    // The sweep's scan of pending connects by age (its abandoned events are owed in event_outbox).
    {
      name: 'integration_connection_pending_idx',
      expression: `create index "integration_connection_pending_idx" on "connection"."integration_connection" ("created_at") where "status" = 'pending'`,
    },
    // Who else holds an external account's grant at a vendor, in any org (a revocation that ends the whole grant).
    {
      name: 'integration_connection_account_idx',
      expression: `create index "integration_connection_account_idx" on "connection"."integration_connection" ("vendor", "external_account_id") where "external_account_id" is not null and "status" in (${LIVE_SQL})`,
    },
    // The other members' live connections of an org, in the order a list pages them (one per member of a
    // user-level provider: an admin's list and its pages read a bounded range, never the whole set).
    {
      name: 'integration_connection_members_idx',
      expression: `create index "integration_connection_members_idx" on "connection"."integration_connection" ("org_id", "vendor", "created_at", "id") where "level" = 'user' and "status" in (${LIVE_SQL})`,
    },
    // One slot's connections, history included (the OAuth routes read the slot they act on).
    {
      name: 'integration_connection_slot_idx',
      expression: `create index "integration_connection_slot_idx" on "connection"."integration_connection" ("instance_id", "level", "user_id", "created_at")`,
    },
    {
      name: 'integration_connection_one_live_app',
      expression: `create unique index "integration_connection_one_live_app" on "connection"."integration_connection" ("instance_id") where "level" = 'app' and "status" in (${LIVE_SQL})`,
    },
    {
      name: 'integration_connection_one_live_user',
      expression: `create unique index "integration_connection_one_live_user" on "connection"."integration_connection" ("instance_id", "user_id") where "level" = 'user' and "status" in (${LIVE_SQL})`,
    },
  ],
  properties: {
    id: { type: 'uuid', primary: true },
    orgId: { type: 'uuid' },
    instanceId: {
      kind: 'm:1',
      entity: 'IntegrationInstance',
      mapToPk: true,
      joinColumn: 'instance_id',
    } as never,
    vendor: { type: 'string', length: 40 },
    level: { enum: true, items: () => ZConnectionFlow.options },
    userId: { type: 'uuid' },
    status: { enum: true, items: () => ZConnectionStatus.options },
    externalAccountId: { type: 'string', length: 300, nullable: true },
    tenantId: { type: 'string', length: 300, nullable: true },
    refreshTokenExpired: { type: 'boolean', default: false },
    details: { type: 'json' },
    errorReason: { type: 'string', length: 200, nullable: true },
    instanceReused: { type: 'boolean', default: false },
    connectedEventId: { type: 'uuid', nullable: true },
    connectedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    revokedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    disconnectSagaId: { type: 'uuid', nullable: true },
    statusBeforeDisconnect: {
      enum: true,
      items: () => ZConnectionStatus.options,
      nullable: true,
    },
    lockSagaId: { type: 'uuid', nullable: true },
    lockPurpose: { enum: true, items: () => ZOAuthAction.options, nullable: true },
    lockedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    refreshTokenExpiredEventId: { type: 'uuid', nullable: true },
    refreshTokenExpiredAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    retiredCredentialIds: { type: 'uuid[]', columnType: 'uuid[]', default: '{}' },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});
