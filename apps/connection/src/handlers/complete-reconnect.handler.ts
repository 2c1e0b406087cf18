import type { MikroORM } from '@mikro-orm/postgresql';
import {
  AppError,
  type TConnection,
  type TConnectionDetails,
  type TEventInput,
} from '@otesse/contracts';
import type { Logger } from '@otesse/logging';
import type { EventPublisher, THandler } from '@otesse/messaging';
import { runConnectionCommandOnce } from '../store/command-once';
import {
  SCHEMA,
  iso,
  loadConnection,
  lockConnection,
  type TConnectionRow,
} from '../store/connection.store';
import { publishOwedEvents } from '../store/event-outbox';
import { disconnectInProgress, lockedBySaga } from './lock-connection.handler';

export interface TCompleteReconnectDeps {
  orm: MikroORM;
  events: EventPublisher;
  logger: Logger;
}

type TReconnectedEvent = TEventInput<'integrations.connection.reconnected'>;

const SUBJECT = {
  reconnect: 'integrations.connection.reconnected',
  changeUser: 'integrations.connection.user_changed',
} as const;

/**
 * Reconnect / change-user saga, last step (after the vault swapped the credentials), in one transaction under the
 * connection's row locks and only while this saga holds the lock: refreshTokenExpired cleared (with its event id,
 * so a later expiry is a new event), the external account, tenant and details recorded as the request gives them
 * (`changeUser`: the new user; `reconnect`: the same account, as the edge checked before the swap), the lock
 * lifted, the status left `connected` (the lock is only ever taken on a connected connection and blocks every
 * status change, so there is no `error` to come back from). The instance, other connections, webhooks, jobs and
 * references are untouched; the instance's next health check is made due now, so a health that showed the expiry
 * is re-evaluated with the new tokens. Then `integrations.connection.reconnected` / `user_changed` is published
 * after the commit, msgID = eventId. Once per idempotency key: a replay re-publishes the very same event
 * (JetStream drops the duplicate) — so a caller that got UNAVAILABLE (publish failed after the commit) retries.
 *
 * Details: the request's fields replace the stored ones, others are kept (e.g. siteName); for `changeUser` the
 * previous user's accountLabel is dropped when the request gives none, and on a change of account also when it
 * gives that same label back.
 */
export function completeReconnectHandler(
  deps: TCompleteReconnectDeps,
): THandler<'connection.connections.complete-reconnect'> {
  return async (req, ctx) => {
    const knex = deps.orm.em.getConnection().getKnex();
    const { reply, replayed } = await runConnectionCommandOnce(
      knex,
      {
        key: req.idempotencyKey,
        subject: 'connection.connections.complete-reconnect',
        orgId: req.orgId,
        connectionId: req.connectionId,
      },
      async (trx) => {
        const { connection: c, instance } = await lockConnection(trx, req.orgId, req.connectionId);
        if (c.lock_saga_id !== req.sagaId) {
          if (c.status === 'disconnecting') throw disconnectInProgress();
          if (c.lock_saga_id !== null) throw lockedBySaga(c);
          throw new AppError('CONFLICT', "this saga does not hold the connection's lock", {
            reason: 'not_locked',
            details: { status: c.status },
          });
        }
        if (c.lock_purpose !== req.action) {
          throw new AppError(
            'CONFLICT',
            `the lock was taken for ${c.lock_purpose ?? 'nothing'}, not ${req.action}`,
            { reason: 'lock_purpose_mismatch' },
          );
        }
        const [row] = (await trx('integration_connection')
          .withSchema(SCHEMA)
          .where({ id: c.id })
          .update({
            external_account_id: req.externalAccountId,
            tenant_id: req.tenantId,
            details: JSON.stringify(mergeDetails(c, req)),
            retired_credential_ids: retiredKept(c.retired_credential_ids, req.retiredCredentialIds),
            refresh_token_expired: false,
            refresh_token_expired_event_id: null,
            refresh_token_expired_at: null,
            lock_saga_id: null,
            lock_purpose: null,
            locked_at: null,
            updated_at: trx.fn.now(),
          })
          .returning('*')) as TConnectionRow[];
        if (instance.tenant_id === null && req.tenantId !== null) {
          // A connection stored before tenants were pinned: its instance is pinned now, to the tenant the edge
          // matched (a tenant-pinned instance was checked against its pin before the swap).
          await trx('integration_instance')
            .withSchema(SCHEMA)
            .where({ id: instance.id })
            .update({ tenant_id: req.tenantId, updated_at: trx.fn.now() });
        }
        await trx('integration_health')
          .withSchema(SCHEMA)
          .where({ instance_id: c.instance_id, checks_enabled: true })
          .update({ next_check_at: trx.fn.now() });
        const event: TReconnectedEvent = {
          eventId: req.eventId,
          occurredAt: iso(row!.updated_at),
          orgId: c.org_id,
          vendor: c.vendor,
          instanceId: c.instance_id,
          connectionId: c.id,
          sagaId: req.sagaId,
          actorUserId: req.actorUserId,
          action: req.action,
          previousExternalAccountId: c.external_account_id,
          externalAccountId: req.externalAccountId,
          tenantId: req.tenantId,
          // The connection's level and owner after the change (a change of user keeps the owner).
          level: row!.level,
          userId: row!.user_id,
        };
        return {
          connection: await loadConnection(trx, req.orgId, c.id),
          previousExternalAccountId: c.external_account_id,
          event,
        };
      },
    );
    // A reply stored before the event carried level and owner: the connection's as that commit left it.
    const event: TReconnectedEvent = {
      ...reply.event,
      level: reply.event.level ?? reply.connection.level,
      userId: reply.event.userId ?? reply.connection.userId,
    };
    // The connection's owed events (an expiry whose publish failed) go out first, in the order they happened.
    await publishOwedEvents(
      { db: knex, events: deps.events, logger: deps.logger },
      { connectionIds: [req.connectionId] },
    );
    await publishReconnected(deps, reply.connection, event, ctx.traceId);
    if (!replayed) {
      deps.logger.info(
        {
          connectionId: req.connectionId,
          action: req.action,
          sagaId: req.sagaId,
          eventId: event.eventId,
          traceId: ctx.traceId,
        },
        req.action === 'changeUser' ? 'connected user changed' : 'connection reconnected',
      );
    }
    return {
      connection: reply.connection,
      previousExternalAccountId: reply.previousExternalAccountId,
    };
  };
}

/** Enough for the refreshes in flight around a few reconnects; older ids are forgotten. */
export const RETIRED_CREDENTIALS_KEPT = 20;

function retiredKept(stored: string[], retired: string[]): string[] {
  const all = [...stored.filter((id) => !retired.includes(id)), ...retired];
  return all.slice(-RETIRED_CREDENTIALS_KEPT);
}

/**
 * The given details over the stored ones. A change of user drops the previous account's label: it names the old
 * user. The edge sends the new identity's own label only (none when it has none), so one given is the new one's.
 */
function mergeDetails(
  c: Pick<TConnectionRow, 'details'>,
  req: { action: 'reconnect' | 'changeUser'; details: TConnectionDetails },
): TConnectionDetails {
  if (req.action === 'reconnect') return { ...c.details, ...req.details };
  const shared: TConnectionDetails = { ...c.details };
  delete shared.accountLabel;
  return { ...shared, ...req.details };
}

async function publishReconnected(
  deps: TCompleteReconnectDeps,
  c: TConnection,
  event: TReconnectedEvent,
  traceId: string,
): Promise<void> {
  try {
    await deps.events.publish(SUBJECT[event.action], event, {
      msgId: event.eventId,
      ctx: { traceId, actorUserId: event.actorUserId, orgId: event.orgId },
    });
  } catch (e) {
    deps.logger.warn(
      { err: e, connectionId: c.id, eventId: event.eventId },
      'reconnect recorded, but publishing the event failed; the caller retries',
    );
    throw new AppError(
      'UNAVAILABLE',
      'reconnect recorded, but the event could not be published: retry',
      { reason: 'event_publish_failed', cause: e },
    );
  }
}
