import { randomUUID } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { AppError, type TConnection, type TInstance } from '@otesse/contracts';
import type { EventPublisher, THandler } from '@otesse/messaging';
import type { Logger } from '@otesse/logging';
import { SCHEMA, loadConnection, loadInstance, lockConnection } from '../store/connection.store';
import { databaseTimeIn } from '@otesse/persistence';

export interface TActivateDeps {
  orm: MikroORM;
  events: EventPublisher;
  logger: Logger;
  /** The first periodic health check comes one interval after connecting. */
  healthCheckIntervalMs: number;
}

/**
 * Credentials are stored: pending → connected, the instance connected, its health `healthy` with checks on, its
 * webhook endpoint created or re-enabled — in one transaction. The `integrations.connection.connected` event is
 * published after the commit with the connection's event id as msgID; activating a connected connection again
 * re-publishes that same event (JetStream drops the duplicate), so a caller that saw UNAVAILABLE just retries.
 */
export function activateConnectionHandler(
  deps: TActivateDeps,
): THandler<'connection.connections.activate'> {
  return async (req, ctx) => {
    const knex = deps.orm.em.getConnection().getKnex();
    const { instance, connection, eventId, instanceReused } = await knex.transaction(
      async (trx) => {
        const locked = await lockConnection(trx, req.orgId, req.connectionId);
        const c = locked.connection;
        const inst = locked.instance;
        if (c.status === 'connected') {
          return {
            instance: await loadInstance(trx, req.orgId, inst.id),
            connection: await loadConnection(trx, req.orgId, c.id),
            eventId: c.connected_event_id ?? req.eventId,
            instanceReused: c.instance_reused,
          };
        }
        if (c.status !== 'pending') {
          throw new AppError('CONFLICT', `connection is ${c.status}, not pending`, {
            reason: 'not_pending',
            details: { status: c.status },
          });
        }
        // Reconnection after a disconnect: the instance this connect revived had been revoked.
        const reused =
          inst.status === 'revoked' ||
          (inst.status === 'pending' && inst.previous_status === 'revoked');
        await trx('integration_connection').withSchema(SCHEMA).where({ id: c.id }).update({
          status: 'connected',
          connected_at: trx.fn.now(),
          instance_reused: reused,
          connected_event_id: req.eventId,
          error_reason: null,
          updated_at: trx.fn.now(),
        });
        if (inst.status !== 'connected' || inst.previous_status !== null) {
          await trx('integration_instance')
            .withSchema(SCHEMA)
            .where({ id: inst.id })
            .update({ status: 'connected', previous_status: null, updated_at: trx.fn.now() });
        }
        await trx('integration_health')
          .withSchema(SCHEMA)
          .insert({
            id: randomUUID(),
            instance_id: inst.id,
            status: 'healthy',
            checked_at: trx.fn.now(),
            checks_enabled: true,
            next_check_at: databaseTimeIn(trx, deps.healthCheckIntervalMs),
            detail: 'connected',
            updated_at: trx.fn.now(),
          })
          .onConflict('instance_id')
          .merge([
            'status',
            'checked_at',
            'checks_enabled',
            'next_check_at',
            'detail',
            'updated_at',
          ]);
        await trx('webhook_endpoint')
          .withSchema(SCHEMA)
          .insert({
            id: randomUUID(),
            instance_id: inst.id,
            connection_id: c.id,
            url: `/webhooks/${inst.vendor}/${inst.id}`,
            status: 'enabled',
            created_at: trx.fn.now(),
            updated_at: trx.fn.now(),
          })
          .onConflict('instance_id')
          .merge(['connection_id', 'status', 'updated_at']);
        return {
          instance: await loadInstance(trx, req.orgId, inst.id),
          connection: await loadConnection(trx, req.orgId, c.id),
          eventId: req.eventId,
          instanceReused: reused,
        };
      },
    );
    await publishConnected(deps, { instance, connection, eventId, instanceReused, ctx });
    return { instance, connection };
  };
}

async function publishConnected(
  deps: TActivateDeps,
  opts: {
    instance: TInstance;
    connection: TConnection;
    eventId: string;
    instanceReused: boolean;
    ctx: { traceId: string; actorUserId?: string | undefined };
  },
): Promise<void> {
  const c = opts.connection;
  try {
    await deps.events.publish(
      'integrations.connection.connected',
      {
        eventId: opts.eventId,
        // The connection's own timestamp, so a re-publish carries the very same event.
        occurredAt: c.connectedAt ?? c.updatedAt,
        orgId: c.orgId,
        vendor: c.vendor,
        instanceId: opts.instance.id,
        connectionId: c.id,
        level: c.level,
        userId: c.userId,
        externalAccountId: c.externalAccountId,
        tenantId: c.tenantId,
        instanceReused: opts.instanceReused,
      },
      {
        msgId: opts.eventId,
        ctx: { traceId: opts.ctx.traceId, actorUserId: opts.ctx.actorUserId },
      },
    );
  } catch (e) {
    deps.logger.warn(
      { err: e, connectionId: c.id, eventId: opts.eventId },
      'connected, but publishing the event failed; the caller retries',
    );
    throw new AppError('UNAVAILABLE', 'connected, but the event could not be published: retry', {
      reason: 'event_publish_failed',
      cause: e,
    });
  }
}
