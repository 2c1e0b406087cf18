import type { MikroORM } from '@mikro-orm/postgresql';
import { AppError, type TConnection } from '@otesse/contracts';
import type { EventPublisher, THandler } from '@otesse/messaging';
import type { Logger } from '@otesse/logging';
import {
  SCHEMA,
  iso,
  loadConnection,
  lockConnection,
  type TConnectionRow,
} from '../store/connection.store';

export interface TMarkRefreshExpiredDeps {
  orm: MikroORM;
  events: EventPublisher;
  logger: Logger;
}

/**
 * The vault met invalid_grant (or ServiceNow's 401) on a refresh: refreshTokenExpired = true (seed 003: the UI
 * offers Reconnect), then `integrations.connection.refresh_token_expired` is published after the commit with
 * the first call's event id as msgID. A repeated call changes nothing and re-publishes that same event, so a
 * caller that got UNAVAILABLE (published failed after the commit) retries and the event is never lost. A mark
 * for a refresh token a reconnect has since retired is refused (CONFLICT `credential_replaced`), flagging nothing.
 */
export function markRefreshExpiredHandler(
  deps: TMarkRefreshExpiredDeps,
): THandler<'connection.connections.mark-refresh-expired'> {
  return async (req, ctx) => {
    const knex = deps.orm.em.getConnection().getKnex();
    const { row, changed } = await knex.transaction(async (trx) => {
      const { connection: c } = await lockConnection(trx, req.orgId, req.connectionId);
      // The vault read the dead token before a reconnect replaced it and reports it late: the connection's
      // tokens now are new, nothing expired.
      if (req.credentialId !== undefined && c.retired_credential_ids.includes(req.credentialId)) {
        throw new AppError(
          'CONFLICT',
          'that refresh token was replaced by a reconnect: nothing to flag',
          { reason: 'credential_replaced' },
        );
      }
      if (c.refresh_token_expired && c.refresh_token_expired_event_id !== null) {
        return { row: c, changed: false };
      }
      const [updated] = (await trx('integration_connection')
        .withSchema(SCHEMA)
        .where({ id: c.id })
        .update({
          refresh_token_expired: true,
          refresh_token_expired_event_id: req.eventId,
          refresh_token_expired_at: trx.fn.now(),
          updated_at: trx.fn.now(),
        })
        .returning('*')) as TConnectionRow[];
      // The instance's health shows the expiry at the next tick rather than an interval later.
      await trx('integration_health')
        .withSchema(SCHEMA)
        .where({ instance_id: c.instance_id, checks_enabled: true })
        .update({ next_check_at: trx.fn.now() });
      return { row: updated!, changed: true };
    });
    const eventId = row.refresh_token_expired_event_id!;
    const expiredAt = iso(row.refresh_token_expired_at ?? row.updated_at);
    const connection = await loadConnection(knex, req.orgId, row.id);
    await publishExpired(deps, connection, { eventId, expiredAt, traceId: ctx.traceId });
    if (changed) {
      deps.logger.info(
        { connectionId: row.id, vendor: row.vendor, eventId },
        'refresh token expired: connection flagged for reconnect',
      );
    }
    return { connection, changed, eventId, expiredAt };
  };
}

async function publishExpired(
  deps: TMarkRefreshExpiredDeps,
  c: TConnection,
  opts: { eventId: string; expiredAt: string; traceId: string },
): Promise<void> {
  try {
    await deps.events.publish(
      'integrations.connection.refresh_token_expired',
      {
        eventId: opts.eventId,
        occurredAt: opts.expiredAt,
        orgId: c.orgId,
        vendor: c.vendor,
        instanceId: c.instanceId,
        connectionId: c.id,
        level: c.level,
        userId: c.userId,
      },
      { msgId: opts.eventId, ctx: { traceId: opts.traceId } },
    );
  } catch (e) {
    deps.logger.warn(
      { err: e, connectionId: c.id, eventId: opts.eventId },
      'flagged refreshTokenExpired, but publishing the event failed; the caller retries',
    );
    throw new AppError('UNAVAILABLE', 'flagged, but the event could not be published: retry', {
      reason: 'event_publish_failed',
      cause: e,
    });
  }
}
