import type { Knex, MikroORM } from '@mikro-orm/postgresql';
import { AppError } from '@otesse/contracts';
import type { EventPublisher, THandler } from '@otesse/messaging';
import type { Logger } from '@otesse/logging';
import {
  SCHEMA,
  iso,
  loadConnection,
  lockConnection,
  type TConnectionRow,
} from '../store/connection.store';
import {
  connectionEventFields,
  oweEvent,
  outboxKey,
  publishOwedEvents,
  systemAuditEntry,
} from '../store/event-outbox';

export interface TMarkRefreshExpiredDeps {
  orm: MikroORM;
  events: EventPublisher;
  logger: Logger;
  /**
   * How long after the flag the connection service's own copy of the `connection.refresh_token_expired` audit entry
   * waits (default REFRESH_EXPIRED_AUDIT_DELAY_MS): the vault writes that entry first, with the provider's answer
   * (signal, HTTP status) only it knows; this copy, same event id, is what remains when the vault's was lost.
   */
  auditDelayMs?: number;
}

/**
 * The connection service's copy of the expiry's audit entry waits a minute: the vault's (same event id, richer
 * details) is normally written by then and this one dropped as its duplicate — within JetStream's two-minute window
 * by msgID, and at any time by the audit writer, which keeps an event id's first entry.
 */
export const REFRESH_EXPIRED_AUDIT_DELAY_MS = 60_000;

/**
 * The vault met invalid_grant (or ServiceNow's 401) on a refresh: refreshTokenExpired = true (seed 003: the UI
 * offers Reconnect) and, in the same transaction, `integrations.connection.refresh_token_expired` (msgID = the first
 * call's event id, occurredAt = when the flag was set) and its `connection.refresh_token_expired` audit entry (same
 * id, published a minute later: see REFRESH_EXPIRED_AUDIT_DELAY_MS) owed in the event outbox. The event is published
 * after the commit; what fails stays owed and the pending-connect sweep publishes it, so neither the event nor the
 * audit entry is lost when JetStream is away or this process dies. A repeated call changes nothing and publishes
 * what is still owed; UNAVAILABLE (`event_publish_failed`) when the event stays owed (flagged all the same: a retry
 * publishes it sooner than the sweep). A mark for a refresh token a reconnect has since retired is refused (CONFLICT
 * `credential_replaced`), flagging nothing.
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
      await oweExpired(trx, updated!, {
        traceId: ctx.traceId,
        auditDelayMs: deps.auditDelayMs ?? REFRESH_EXPIRED_AUDIT_DELAY_MS,
      });
      return { row: updated!, changed: true };
    });
    const eventId = row.refresh_token_expired_event_id!;
    const expiredAt = iso(row.refresh_token_expired_at ?? row.updated_at);
    const connection = await loadConnection(knex, req.orgId, row.id);
    const { owed } = await publishOwedEvents(
      { db: knex, events: deps.events, logger: deps.logger },
      { connectionIds: [row.id] },
    );
    if (changed) {
      deps.logger.info(
        { connectionId: row.id, vendor: row.vendor, eventId },
        'refresh token expired: connection flagged for reconnect',
      );
    }
    if (owed.has(outboxKey('integrations.connection.refresh_token_expired', eventId))) {
      deps.logger.warn(
        { connectionId: row.id, eventId },
        'flagged refreshTokenExpired, but publishing the event failed; it stays owed (the sweep or a retry publishes it)',
      );
      throw new AppError(
        'UNAVAILABLE',
        'flagged, but the event could not be published yet: retry',
        {
          reason: 'event_publish_failed',
        },
      );
    }
    return { connection, changed, eventId, expiredAt };
  };
}

/** The expiry's event and audit entry, owed with the flag (`c` as the flag's update left it). */
async function oweExpired(
  trx: Knex.Transaction,
  c: TConnectionRow,
  opts: { traceId: string; auditDelayMs: number },
): Promise<void> {
  const eventId = c.refresh_token_expired_event_id!;
  const occurredAt = iso(c.refresh_token_expired_at ?? c.updated_at);
  const ctx = { traceId: opts.traceId, orgId: c.org_id };
  await oweEvent(trx, {
    connectionId: c.id,
    subject: 'integrations.connection.refresh_token_expired',
    msgId: eventId,
    payload: { eventId, occurredAt, ...connectionEventFields(c) },
    ctx,
  });
  // Another stream, so the same id serves as the audit entry's (the audit dedupes by it).
  await oweEvent(trx, {
    connectionId: c.id,
    subject: 'audit.entries.append',
    msgId: eventId,
    payload: systemAuditEntry(c, {
      eventId,
      action: 'connection.refresh_token_expired',
      // The provider's answer (signal, HTTP status) is the vault's to tell, in its own copy.
      details: { level: c.level, reconnectRequired: true },
      occurredAt,
      traceId: opts.traceId,
    }),
    ctx,
    delayMs: opts.auditDelayMs,
  });
}
