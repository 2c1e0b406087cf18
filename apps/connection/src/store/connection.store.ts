import { randomUUID } from 'node:crypto';
import type { Knex } from '@mikro-orm/postgresql';
import {
  AppError,
  type TConnection,
  type TConnectionDetails,
  type TConnectionFlow,
  type TConnectionSlot,
  type TConnectionStatus,
  type THealthStatus,
  type TInstanceConnectionCounts,
  type TInstance,
  type TInstanceConfig,
  type TInstanceStatus,
  type TOAuthAction,
  type TWebhookEndpoint,
  ZWebhookRefusalReason,
} from '@otesse/contracts';
import { LIVE_CONNECTION_STATUSES, LIVE_SQL } from '../entities';

export const SCHEMA = 'connection';
export type TDb = Knex | Knex.Transaction;

export interface TInstanceRow {
  id: string;
  org_id: string;
  vendor: string;
  status: TInstanceStatus;
  previous_status: TInstanceStatus | null;
  config: TInstanceConfig;
  revoking_saga_id: string | null;
  tenant_id: string | null;
  unlink_saga_id: string | null;
  tenant_unlinked_at: Date | string | null;
  created_at: Date | string;
  updated_at: Date | string;
}

interface TInstanceWithHealthRow extends TInstanceRow {
  health_status: THealthStatus | null;
  health_checked_at: Date | string | null;
  health_checks_enabled: boolean | null;
}

export interface TConnectionRow {
  id: string;
  org_id: string;
  instance_id: string;
  vendor: string;
  level: TConnectionFlow;
  user_id: string;
  status: TConnectionStatus;
  external_account_id: string | null;
  tenant_id: string | null;
  refresh_token_expired: boolean;
  details: TConnectionDetails;
  error_reason: string | null;
  instance_reused: boolean;
  connected_event_id: string | null;
  connected_at: Date | string | null;
  revoked_at: Date | string | null;
  disconnect_saga_id: string | null;
  status_before_disconnect: TConnectionStatus | null;
  lock_saga_id: string | null;
  lock_purpose: TOAuthAction | null;
  locked_at: Date | string | null;
  refresh_token_expired_event_id: string | null;
  refresh_token_expired_at: Date | string | null;
  retired_credential_ids: string[];
  created_at: Date | string;
  updated_at: Date | string;
}

export interface TWebhookRow {
  id: string;
  instance_id: string;
  connection_id: string | null;
  url: string;
  status: 'enabled' | 'disabled';
  last_delivery_at: Date | string | null;
  last_refused_at: Date | string | null;
  last_refusal_reason: string | null;
}

/** MikroORM's knex hands timestamptz back as strings. */
export const iso = (v: Date | string): string => new Date(v).toISOString();
const isoOrNull = (v: Date | string | null): string | null => (v === null ? null : iso(v));

export function toInstance(r: TInstanceWithHealthRow): TInstance {
  return {
    id: r.id,
    orgId: r.org_id,
    vendor: r.vendor,
    status: r.status,
    config: r.config,
    tenantId: r.tenant_id,
    unlinkInProgress: r.unlink_saga_id !== null,
    tenantUnlinkedAt: isoOrNull(r.tenant_unlinked_at),
    health: r.health_status ?? 'unknown',
    healthCheckedAt: isoOrNull(r.health_checked_at),
    healthChecksEnabled: r.health_checks_enabled ?? false,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

export function toConnection(r: TConnectionRow): TConnection {
  return {
    id: r.id,
    orgId: r.org_id,
    instanceId: r.instance_id,
    vendor: r.vendor,
    level: r.level,
    userId: r.user_id,
    status: r.status,
    externalAccountId: r.external_account_id,
    tenantId: r.tenant_id,
    refreshTokenExpired: r.refresh_token_expired,
    lockedFor: r.lock_purpose,
    details: r.details,
    connectedAt: isoOrNull(r.connected_at),
    revokedAt: isoOrNull(r.revoked_at),
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

/** Instances of an org (optionally one vendor or one id) with their health, by vendor. */
export async function loadInstances(
  db: TDb,
  where: { orgId: string; vendor?: string; id?: string },
): Promise<TInstance[]> {
  const q = db('integration_instance as i')
    .withSchema(SCHEMA)
    .leftJoin('integration_health as h', 'h.instance_id', 'i.id')
    .where('i.org_id', where.orgId);
  if (where.vendor !== undefined) q.andWhere('i.vendor', where.vendor);
  if (where.id !== undefined) q.andWhere('i.id', where.id);
  const rows = (await q
    .orderBy('i.vendor')
    .select(
      'i.*',
      'h.status as health_status',
      'h.checked_at as health_checked_at',
      'h.checks_enabled as health_checks_enabled',
    )) as TInstanceWithHealthRow[];
  return rows.map(toInstance);
}

export async function loadInstance(db: TDb, orgId: string, id: string): Promise<TInstance> {
  const [instance] = await loadInstances(db, { orgId, id });
  if (!instance) throw new AppError('NOT_FOUND', 'instance not found');
  return instance;
}

/** Connections of an org, optionally of some instances or one id, oldest first. */
export async function loadConnections(
  db: TDb,
  where: {
    orgId: string;
    instanceIds?: string[];
    id?: string;
    externalAccountId?: string | undefined;
    /** Ended connections (revoked, error) only among these; the live ones all. */
    endedAmong?: readonly string[] | undefined;
    /** Only one slot's: the org's connection or one member's. */
    slot?: TConnectionSlot | undefined;
    /**
     * Only those naming a provider site: created after their instance's last unlink from its tenant (those before
     * it name the tenant it was unlinked from).
     */
    withTenant?: boolean | undefined;
    /** Only those in these statuses. */
    statuses?: readonly TConnectionStatus[] | undefined;
    /** At most the newest this many (answered oldest first all the same). */
    newest?: number | undefined;
  },
): Promise<TConnection[]> {
  const q = db('integration_connection').withSchema(SCHEMA).where('org_id', where.orgId);
  const endedAmong = where.endedAmong;
  if (endedAmong !== undefined)
    q.andWhere((w) => {
      void w.whereIn('status', LIVE_CONNECTION_STATUSES);
      if (endedAmong.length) void w.orWhereIn('id', [...endedAmong]);
    });
  if (where.instanceIds !== undefined) q.whereIn('instance_id', where.instanceIds);
  if (where.id !== undefined) q.andWhere('id', where.id);
  if (where.externalAccountId !== undefined)
    q.andWhere('external_account_id', where.externalAccountId);
  if (where.slot !== undefined) {
    q.andWhere('level', where.slot.level);
    if (where.slot.level === 'user') q.andWhere('user_id', where.slot.userId);
  }
  if (where.withTenant) {
    q.whereNotNull('tenant_id').whereNotExists((w) => {
      void w
        .from(`${SCHEMA}.integration_instance as u`)
        .whereRaw('u.id = integration_connection.instance_id')
        .andWhereRaw('integration_connection.created_at <= u.tenant_unlinked_at')
        .select(db.raw('1'));
    });
  }
  if (where.statuses !== undefined) q.whereIn('status', [...where.statuses]);
  if (where.newest !== undefined) {
    const rows = (await q
      .orderBy([
        { column: 'created_at', order: 'desc' },
        { column: 'id', order: 'desc' },
      ])
      .limit(where.newest)) as TConnectionRow[];
    return rows.reverse().map(toConnection);
  }
  const rows = (await q.orderBy([{ column: 'created_at' }, { column: 'id' }])) as TConnectionRow[];
  return rows.map(toConnection);
}

/**
 * An org's connections as one member sees the list: every live connection of the org and the viewer's own, at most
 * `othersLimit` of the other members' live ones per instance (oldest first), the newest `slotHistory` ended ones of
 * the org's slot and of the viewer's slot per instance (where a disconnect keeps the jobs), and at most `namedLimit`
 * of the named ones the viewer may see per instance (the org's and their own first, then the newest; other members'
 * only with `namedOthers`), with how many the viewer may see. One statement: each group is ranked per instance and
 * cut in the database, so a reply never grows with the org.
 */
export async function loadViewerConnections(
  db: TDb,
  where: {
    orgId: string;
    /** Only this instance's connections. */
    instanceId?: string | undefined;
    viewerUserId: string;
    othersLimit: number;
    slotHistory?: number | undefined;
    named: readonly string[];
    namedLimit: number;
    namedOthers: boolean;
  },
): Promise<{
  connections: TConnection[];
  othersNext: Map<string, string>;
  namedTotal: Map<string, number>;
}> {
  const other = `(level = 'user' and user_id <> :viewer and status in (${LIVE_SQL}))`;
  const ownEnded = `((level = 'app' or user_id = :viewer) and status not in (${LIVE_SQL}))`;
  const named = `(id = any(:named::uuid[]) and (level = 'app' or user_id = :viewer or :namedOthers))`;
  const { rows } = (await db.raw(
    `select * from (
       select c.*,
         case when ${other}
           then row_number() over (partition by instance_id, ${other} order by created_at, id) end as other_rank,
         case when ${ownEnded}
           then row_number() over (partition by instance_id, level, ${ownEnded} order by created_at desc, id desc)
         end as ended_rank,
         case when ${named}
           then row_number() over (partition by instance_id, ${named}
             order by (level = 'app' or user_id = :viewer) desc, created_at desc, id desc) end as named_rank,
         case when ${named} then count(*) over (partition by instance_id, ${named}) end as named_total
       from :schema:.integration_connection c
       where org_id = :org and (:instance::uuid is null or instance_id = :instance::uuid)
         and (status in (${LIVE_SQL}) or id = any(:named::uuid[]) or (:history > 0 and ${ownEnded}))
     ) x
     where named_rank <= :namedLimit
        or (status in (${LIVE_SQL}) and (other_rank is null or other_rank <= :others))
        or ended_rank <= :history
     order by created_at, id`,
    {
      viewer: where.viewerUserId,
      schema: SCHEMA,
      org: where.orgId,
      instance: where.instanceId ?? null,
      named: [...where.named],
      namedLimit: where.namedLimit,
      namedOthers: where.namedOthers,
      others: where.othersLimit,
      history: where.slotHistory ?? 0,
    },
  )) as {
    rows: (TConnectionRow & {
      other_rank: string | number | null;
      named_total: string | number | null;
    })[];
  };
  // Per instance, the last of the other members' connections the cut kept: the keyset where the next page begins.
  const othersNext = new Map<string, string>();
  const namedTotal = new Map<string, number>();
  for (const r of rows) {
    if (r.other_rank !== null && Number(r.other_rank) === where.othersLimit)
      othersNext.set(r.instance_id, r.id);
    if (r.named_total !== null) namedTotal.set(r.instance_id, Number(r.named_total));
  }
  return { connections: rows.map(toConnection), othersNext, namedTotal };
}

/** Per instance of an org, its live connections in numbers (what a list that carries only some of them shows). */
export async function countLiveConnections(
  db: TDb,
  orgId: string,
  viewerUserId: string,
  /** Only this instance's. */
  instanceId?: string,
): Promise<Map<string, TInstanceConnectionCounts>> {
  const { rows } = (await db.raw(
    `select instance_id,
       count(distinct user_id) filter (where level = 'user' and status = 'connected') as connected_users,
       count(*) filter (where status = 'connected' and refresh_token_expired) as refresh_token_expired,
       count(*) filter (where level = 'user' and user_id <> ?) as other_members_live
     from ??.integration_connection
     where org_id = ? and (?::uuid is null or instance_id = ?::uuid) and status in (${LIVE_SQL})
     group by instance_id`,
    [viewerUserId, SCHEMA, orgId, instanceId ?? null, instanceId ?? null],
  )) as {
    rows: {
      instance_id: string;
      connected_users: string | number;
      refresh_token_expired: string | number;
      other_members_live: string | number;
    }[];
  };
  return new Map(
    rows.map((r) => [
      r.instance_id,
      {
        connectedUsers: Number(r.connected_users),
        refreshTokenExpired: Number(r.refresh_token_expired),
        otherMembersLive: Number(r.other_members_live),
      },
    ]),
  );
}

export async function loadConnection(db: TDb, orgId: string, id: string): Promise<TConnection> {
  const [connection] = await loadConnections(db, { orgId, id });
  // Another org's connection answers exactly like a missing one.
  if (!connection) throw new AppError('NOT_FOUND', 'connection not found');
  return connection;
}

export async function loadWebhookEndpoint(
  db: TDb,
  instanceId: string,
): Promise<TWebhookEndpoint | null> {
  const row = (await db('webhook_endpoint')
    .withSchema(SCHEMA)
    .where('instance_id', instanceId)
    .first()) as TWebhookRow | undefined;
  return row ? toWebhookEndpoint(row) : null;
}

export function toWebhookEndpoint(row: TWebhookRow): TWebhookEndpoint {
  return {
    id: row.id,
    instanceId: row.instance_id,
    connectionId: row.connection_id,
    url: row.url,
    status: row.status,
    lastDeliveryAt: isoOrNull(row.last_delivery_at),
    lastRefusal: row.last_refused_at
      ? {
          at: iso(row.last_refused_at),
          reason: ZWebhookRefusalReason.catch('signature_mismatch').parse(row.last_refusal_reason),
        }
      : null,
  };
}

/**
 * The org's instance of a vendor, created (with its `unknown` health record) when missing, and locked FOR UPDATE
 * for the rest of the transaction: every state change of an instance or its connections takes this lock first,
 * so concurrent connects of one instance run one after the other.
 */
export async function lockOrCreateInstance(
  trx: Knex.Transaction,
  opts: { orgId: string; vendor: string; config?: TInstanceConfig },
): Promise<{ row: TInstanceRow; created: boolean }> {
  const id = randomUUID();
  const inserted = await trx('integration_instance')
    .withSchema(SCHEMA)
    .insert({
      id,
      org_id: opts.orgId,
      vendor: opts.vendor,
      status: 'pending',
      previous_status: null,
      config: JSON.stringify(opts.config ?? {}),
      created_at: trx.fn.now(),
      updated_at: trx.fn.now(),
    })
    .onConflict(['org_id', 'vendor'])
    .ignore()
    .returning('id');
  const created = inserted.length > 0;
  if (created) {
    await trx('integration_health').withSchema(SCHEMA).insert({
      id: randomUUID(),
      instance_id: id,
      status: 'unknown',
      checked_at: null,
      checks_enabled: false,
      updated_at: trx.fn.now(),
    });
  }
  const row = (await trx('integration_instance')
    .withSchema(SCHEMA)
    .where({ org_id: opts.orgId, vendor: opts.vendor })
    .forUpdate()
    .first()) as TInstanceRow | undefined;
  if (!row) throw new Error(`instance ${opts.orgId}/${opts.vendor} vanished`);
  return { row, created };
}

/** Locks an instance of the org by id: NOT_FOUND for a missing instance and for another org's alike. */
export async function lockInstanceOfOrg(
  trx: Knex.Transaction,
  orgId: string,
  instanceId: string,
): Promise<TInstanceRow> {
  const row = (await trx('integration_instance')
    .withSchema(SCHEMA)
    .where({ id: instanceId, org_id: orgId })
    .forUpdate()
    .first()) as TInstanceRow | undefined;
  if (!row) throw new AppError('NOT_FOUND', 'instance not found');
  return row;
}

/**
 * The connection whose disconnect holds the instance (`revoking_saga_id`: the disconnect of its last live connection,
 * from its lock to its statuses), while it still does; undefined when none does.
 */
export async function revokingHolder(
  db: TDb,
  instance: Pick<TInstanceRow, 'id' | 'revoking_saga_id'>,
): Promise<{ id: string } | undefined> {
  if (instance.revoking_saga_id === null) return undefined;
  return (await db('integration_connection')
    .withSchema(SCHEMA)
    .where({
      instance_id: instance.id,
      disconnect_saga_id: instance.revoking_saga_id,
      status: 'disconnecting',
    })
    .first('id')) as { id: string } | undefined;
}

/**
 * Locks a connection of the org together with its instance, instance first (the order every writer uses, so
 * no deadlocks). NOT_FOUND for a missing connection and for another org's alike.
 */
export async function lockConnection(
  trx: Knex.Transaction,
  orgId: string,
  connectionId: string,
): Promise<{ connection: TConnectionRow; instance: TInstanceRow }> {
  // The instance's row lock first (every path that changes an instance's connections takes it first), found
  // through the connection in the same statement.
  const instance = (await trx('integration_instance')
    .withSchema(SCHEMA)
    .whereIn(
      'id',
      trx('integration_connection')
        .withSchema(SCHEMA)
        .where({ id: connectionId, org_id: orgId })
        .select('instance_id'),
    )
    .forUpdate()
    .first()) as TInstanceRow | undefined;
  if (!instance) throw new AppError('NOT_FOUND', 'connection not found');
  const connection = (await trx('integration_connection')
    .withSchema(SCHEMA)
    .where({ id: connectionId, org_id: orgId })
    .forUpdate()
    .first()) as TConnectionRow | undefined;
  if (!connection) throw new AppError('NOT_FOUND', 'connection not found');
  return { connection, instance };
}

/** Live connections of an instance: those that hold a slot (pending, connected, disconnecting). */
export function liveConnections(db: TDb, instanceId: string): Knex.QueryBuilder {
  return db('integration_connection')
    .withSchema(SCHEMA)
    .where('instance_id', instanceId)
    .whereIn('status', [...LIVE_CONNECTION_STATUSES]);
}

/** A violation of one of the partial unique indexes: a concurrent connect won the slot. */
export function isLiveSlotViolation(e: unknown): boolean {
  const err = e as { code?: string; constraint?: string };
  return (
    err.code === '23505' &&
    (err.constraint === 'integration_connection_one_live_app' ||
      err.constraint === 'integration_connection_one_live_user')
  );
}
