import { randomUUID } from 'node:crypto';
import type { Knex, MikroORM } from '@mikro-orm/postgresql';
import { AppError, STALE_PENDING_CONNECTION_MS } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import {
  SCHEMA,
  isLiveSlotViolation,
  liveConnections,
  loadConnection,
  loadInstance,
  lockOrCreateInstance,
  revokingHolder,
} from '../store/connection.store';
import { connectsAbandoned } from '../pending/abandoned-metrics';
import { ABANDONED_COLUMNS, oweAbandoned, type TAbandonedRow } from '../store/abandoned-connects';
import { databaseTimeIn } from '@otesse/persistence';

const alreadyConnected = (details?: unknown): AppError =>
  new AppError('CONFLICT', 'this integration is already connected', {
    reason: 'already_connected',
    ...(details === undefined ? {} : { details }),
  });

/**
 * The slot's connection is pending: another connect of it is between its provider's callback and its activation
 * (seconds), or was left there by an edge that died mid-way, in which case a connect after `retryAfterSec` takes
 * the slot over. Not "already connected": nothing is, yet.
 */
const connectInProgress = (details: { connectionId: string; retryAfterSec: number }): AppError =>
  new AppError('CONFLICT', 'another connect of this integration is still finishing', {
    reason: 'connect_in_progress',
    details,
  });

/** A connect, reconnect or change of user from another tenant than the instance's. */
export const tenantMismatch = (): AppError =>
  new AppError(
    'CONFLICT',
    'that account belongs to another organization at the provider than the one this integration is linked to',
    { reason: 'tenant_mismatch' },
  );

/** A connect, or a change of the instance's config, while an unlink saga holds the instance. */
/** A disconnect saga holds the instance (its last live connection's) or the slot: connect again once it finished. */
export const disconnectInProgress = (holder: { id: string; status: string }): AppError =>
  new AppError('CONFLICT', 'this integration is being disconnected: try again shortly', {
    reason: 'disconnect_in_progress',
    details: { connectionId: holder.id, status: holder.status },
  });

export const unlinkInProgress = (): AppError =>
  new AppError(
    'CONFLICT',
    'this integration is being unlinked from its provider organization: try again shortly',
    { reason: 'unlink_in_progress' },
  );

/**
 * Starts a connection: the org's instance of the vendor is reused (revoked/error → pending, remembering what it
 * was) or created, and the connection is created `pending` — refused (`tenant_mismatch`) when the instance is pinned
 * to another tenant than the one the request names, and (`unlink_in_progress`) while an unlink saga holds the
 * instance. Runs under the instance's row lock; the partial unique indexes are the backstop, and their violation is
 * the same CONFLICT.
 */
export function createConnectionHandler(
  orm: MikroORM,
  /** The pending bound the sweep uses too (PENDING_CONNECT_STALE_MS): one bound for the slot and the sweep. */
  staleAfterMs: number = STALE_PENDING_CONNECTION_MS,
): THandler<'connection.connections.create'> {
  return async (req, ctx) => {
    const knex = orm.em.getConnection().getKnex();
    let staleAbandoned = 0;
    try {
      const created = await knex.transaction(async (trx) => {
        const { row: instance } = await lockOrCreateInstance(trx, {
          orgId: req.orgId,
          vendor: req.vendor,
        });
        // The disconnect of the instance's last live connection holds the instance until its statuses: no
        // connect of any slot meanwhile (that saga has already decided the instance will be revoked).
        const holder = await revokingHolder(trx, instance);
        if (holder) throw disconnectInProgress({ id: holder.id, status: 'disconnecting' });
        // An unlink saga holds the instance until its pin is cleared (or the hold lifted): nothing of it becomes
        // live meanwhile, so the data it erases stays the tenant's it unlinks.
        if (instance.unlink_saga_id !== null) throw unlinkInProgress();
        // The instance's data is its tenant's: a connect from another provider organization would sync that one's
        // records over the org's (per-tenant id sequences collide). Not even after a disconnect: the data is kept.
        if (instance.tenant_id !== null && req.tenantId !== instance.tenant_id) {
          throw tenantMismatch();
        }
        // The slot this connect competes for: the instance's app-level one, or this user's user-level one.
        const sameSlot = (q: Knex.QueryBuilder): Knex.QueryBuilder =>
          q.where(req.level === 'app' ? { level: 'app' } : { level: 'user', user_id: req.userId });
        // A connect abandoned mid-way (an edge killed mid-callback) must not block the slot until the sweep comes
        // by: it is abandoned here, its event (and audit entry) owed in the event outbox for the sweep to publish.
        const stale = (await sameSlot(
          trx('integration_connection')
            .withSchema(SCHEMA)
            .where({ instance_id: instance.id, status: 'pending' }),
        )
          .andWhere('created_at', '<', databaseTimeIn(trx, -staleAfterMs))
          .update({ status: 'error', error_reason: 'stale_pending', updated_at: trx.fn.now() })
          .returning([...ABANDONED_COLUMNS])) as TAbandonedRow[];
        for (const row of stale) await oweAbandoned(trx, row, { traceId: ctx.traceId });
        staleAbandoned = stale.length;
        const live = (await sameSlot(liveConnections(trx, instance.id)).first(
          'id',
          'status',
          // A pending one's time left before it no longer holds the slot (it is fresh, or it was abandoned above).
          trx.raw(
            `greatest(1, ceil(extract(epoch from created_at - now()) + ?))::int as retry_after_sec`,
            [staleAfterMs / 1000],
          ),
        )) as { id: string; status: string; retry_after_sec: number } | undefined;
        if (live?.status === 'disconnecting') {
          // A disconnect saga holds the slot (semantic lock): connect again once it has finished.
          throw disconnectInProgress(live);
        }
        if (live?.status === 'pending') {
          throw connectInProgress({ connectionId: live.id, retryAfterSec: live.retry_after_sec });
        }
        if (live) throw alreadyConnected({ connectionId: live.id, status: live.status });

        if (instance.status === 'revoked' || instance.status === 'error') {
          // Seed: "The system reuses the existing IntegrationInstance (status updated from revoked to pending)".
          await trx('integration_instance').withSchema(SCHEMA).where({ id: instance.id }).update({
            status: 'pending',
            previous_status: instance.status,
            updated_at: trx.fn.now(),
          });
        }
        const id = randomUUID();
        await trx('integration_connection')
          .withSchema(SCHEMA)
          .insert({
            id,
            org_id: req.orgId,
            instance_id: instance.id,
            vendor: req.vendor,
            level: req.level,
            user_id: req.userId,
            status: 'pending',
            external_account_id: req.externalAccountId,
            tenant_id: req.tenantId,
            refresh_token_expired: false,
            details: JSON.stringify(req.details),
            error_reason: null,
            instance_reused: false,
            connected_event_id: null,
            connected_at: null,
            revoked_at: null,
            created_at: trx.fn.now(),
            updated_at: trx.fn.now(),
          });
        return {
          instance: await loadInstance(trx, req.orgId, instance.id),
          connection: await loadConnection(trx, req.orgId, id),
        };
      });
      if (staleAbandoned > 0) connectsAbandoned.inc({ how: 'stale_pending' }, staleAbandoned);
      return created;
    } catch (e) {
      if (isLiveSlotViolation(e)) throw alreadyConnected();
      throw e;
    }
  };
}
