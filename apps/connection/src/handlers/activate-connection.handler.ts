import { randomUUID } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { AppError, type TConnection, type TEventInput, type TInstance } from '@otesse/contracts';
import type { EventPublisher, THandler } from '@otesse/messaging';
import type { Logger } from '@otesse/logging';
import { SCHEMA, loadConnection, loadInstance, lockConnection } from '../store/connection.store';
import { databaseTimeIn } from '@otesse/persistence';
import { oweEvent, outboxKey, publishOwedEvents } from '../store/event-outbox';
import { tenantMismatch } from './create-connection.handler';

export interface TActivateDeps {
  orm: MikroORM;
  events: EventPublisher;
  logger: Logger;
  /** The first periodic health check comes one interval after connecting. */
  healthCheckIntervalMs: number;
}

/**
 * Credentials are stored: pending → connected, the instance connected (and pinned to the connection's tenant when it
 * names one and the instance has none yet; another tenant than its pin is refused, `tenant_mismatch`), its health `healthy` with checks on, its
 * webhook endpoint created or re-enabled, and the `integrations.connection.connected` event owed in the event outbox
 * (msgID = the request's event id, occurredAt = the connection's connectedAt) — in one transaction. The event is
 * published after the commit; when that fails (JetStream away, or this process killed first) it stays owed and the
 * pending-connect sweep publishes it, the same message, so it is never lost. Activating a connected connection again
 * publishes its event if it is still owed (nothing when it is out), so a caller that saw UNAVAILABLE
 * (`event_publish_failed`: connected, the event not out yet) retries and needs not wait for the sweep.
 */
export function activateConnectionHandler(
  deps: TActivateDeps,
): THandler<'connection.connections.activate'> {
  return async (req, ctx) => {
    const knex = deps.orm.em.getConnection().getKnex();
    const { instance, connection, eventId } = await knex.transaction(async (trx) => {
      const locked = await lockConnection(trx, req.orgId, req.connectionId);
      const c = locked.connection;
      const inst = locked.instance;
      if (c.status === 'connected') {
        return {
          instance: await loadInstance(trx, req.orgId, inst.id),
          connection: await loadConnection(trx, req.orgId, c.id),
          eventId: c.connected_event_id ?? req.eventId,
        };
      }
      if (c.status !== 'pending') {
        throw new AppError('CONFLICT', `connection is ${c.status}, not pending`, {
          reason: 'not_pending',
          details: { status: c.status },
        });
      }
      // Two connects of different tenants may both be pending on an instance not pinned yet: the first to activate
      // pins it (under the instance's row lock), the other is refused here and abandoned by its connect.
      if (inst.tenant_id !== null && c.tenant_id !== inst.tenant_id) throw tenantMismatch();
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
      const pin = inst.tenant_id === null && c.tenant_id !== null;
      if (inst.status !== 'connected' || inst.previous_status !== null || pin) {
        await trx('integration_instance')
          .withSchema(SCHEMA)
          .where({ id: inst.id })
          .update({
            status: 'connected',
            previous_status: null,
            ...(pin ? { tenant_id: c.tenant_id } : {}),
            updated_at: trx.fn.now(),
          });
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
        .merge(['status', 'checked_at', 'checks_enabled', 'next_check_at', 'detail', 'updated_at']);
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
      const instance = await loadInstance(trx, req.orgId, inst.id);
      const connection = await loadConnection(trx, req.orgId, c.id);
      await oweEvent(trx, {
        connectionId: c.id,
        subject: 'integrations.connection.connected',
        msgId: req.eventId,
        payload: connectedEvent(req.eventId, instance, connection, reused),
        ctx: { traceId: ctx.traceId, actorUserId: ctx.actorUserId, orgId: c.org_id },
      });
      return { instance, connection, eventId: req.eventId };
    });
    await publishConnected(deps, { connection, eventId });
    return { instance, connection };
  };
}

/** The connected event: the connection's own timestamp as occurredAt, as it was at its activation. */
function connectedEvent(
  eventId: string,
  instance: TInstance,
  c: TConnection,
  instanceReused: boolean,
): TEventInput<'integrations.connection.connected'> {
  return {
    eventId,
    occurredAt: c.connectedAt ?? c.updatedAt,
    orgId: c.orgId,
    vendor: c.vendor,
    instanceId: instance.id,
    connectionId: c.id,
    level: c.level,
    userId: c.userId,
    externalAccountId: c.externalAccountId,
    tenantId: c.tenantId,
    instanceReused,
  };
}

/**
 * Publishes the connection's owed events (its connected event first among them). UNAVAILABLE when the connected
 * event is still owed afterwards: the activation stands, the sweep publishes it, a retry publishes it sooner.
 */
async function publishConnected(
  deps: TActivateDeps,
  opts: { connection: TConnection; eventId: string },
): Promise<void> {
  const c = opts.connection;
  const knex = deps.orm.em.getConnection().getKnex();
  const { owed } = await publishOwedEvents(
    { db: knex, events: deps.events, logger: deps.logger },
    { connectionIds: [c.id] },
  );
  if (owed.has(outboxKey('integrations.connection.connected', opts.eventId))) {
    deps.logger.warn(
      { connectionId: c.id, eventId: opts.eventId },
      'connected, but publishing the event failed; it stays owed (the sweep or a retry publishes it)',
    );
    throw new AppError(
      'UNAVAILABLE',
      'connected, but the event could not be published yet: retry',
      {
        reason: 'event_publish_failed',
      },
    );
  }
}
