import { randomUUID } from 'node:crypto';
import type { Knex } from '@mikro-orm/postgresql';
import { connectionEventFields, oweEvent, systemAuditEntry } from './event-outbox';
import {
  SCHEMA,
  iso,
  liveConnections,
  type TConnectionRow,
  type TInstanceRow,
} from './connection.store';

/**
 * Reasons the system gives when it abandons a connect on its own: nobody else audits those, so an audit entry is
 * owed with the event. (`connect_failed` comes from the edge, which audits it itself.)
 */
export const SYSTEM_ABANDON_REASONS = ['connect_expired', 'stale_pending'] as const;

/** What owing a connection's abandoned event needs, as the pending → error update returns it. */
export type TAbandonedRow = Pick<
  TConnectionRow,
  'id' | 'org_id' | 'instance_id' | 'vendor' | 'level' | 'user_id' | 'error_reason' | 'updated_at'
>;

/** The columns a pending → error update returns (`returning`) for `oweAbandoned`. */
export const ABANDONED_COLUMNS = [
  'id',
  'org_id',
  'instance_id',
  'vendor',
  'level',
  'user_id',
  'error_reason',
  'updated_at',
] as const;

/** A person who cancelled a connect (the dashboard's Cancel connect): the audit entry's actor. */
export type TCancelledBy = { userId: string; ip: string | null };

/**
 * Owes, in the transaction of its pending → error move (`c` as that update left it), the connection's
 * `integrations.connection.abandoned` event (a new event id, also its msgID; occurredAt = the move's updated_at)
 * and, when the system abandoned it (SYSTEM_ABANDON_REASONS) or a person cancelled it (`cancelledBy`, then the
 * entry's actor), its `connection.connect_failed` audit entry under the same id — another stream, and the audit
 * dedupes by it. Both are published after the commit (`publishOwedEvents`), then by the pending-connect sweep until
 * JetStream has them.
 */
export async function oweAbandoned(
  trx: Knex.Transaction,
  c: TAbandonedRow,
  ctx: { traceId: string },
  cancelledBy?: TCancelledBy,
): Promise<void> {
  const eventId = randomUUID();
  const occurredAt = iso(c.updated_at);
  const reason = c.error_reason ?? 'connect_expired';
  const owedCtx = { traceId: ctx.traceId, orgId: c.org_id };
  await oweEvent(trx, {
    connectionId: c.id,
    subject: 'integrations.connection.abandoned',
    msgId: eventId,
    payload: { eventId, occurredAt, ...connectionEventFields(c), reason },
    ctx: owedCtx,
  });
  if (cancelledBy || (SYSTEM_ABANDON_REASONS as readonly string[]).includes(reason)) {
    const entry = systemAuditEntry(c, {
      eventId,
      action: 'connection.connect_failed',
      details: { reason, level: c.level },
      occurredAt,
    });
    await oweEvent(trx, {
      connectionId: c.id,
      subject: 'audit.entries.append',
      msgId: eventId,
      payload: cancelledBy
        ? { ...entry, actorUserId: cancelledBy.userId, ip: cancelledBy.ip }
        : entry,
      ctx: owedCtx,
    });
  }
}

/**
 * A pending connection (row-locked with its instance by `lockConnection`) ends `error`, with its abandoned event
 * (and audit entry, for a system reason or a person's cancel) owed in the event outbox. When the instance was only pending for this
 * connect (no other live connection), it goes back to what it was before (revoked or error).
 */
export async function abandonPendingConnection(
  trx: Knex.Transaction,
  locked: { connection: TConnectionRow; instance: TInstanceRow },
  reason: string,
  ctx: { traceId: string },
  cancelledBy?: TCancelledBy,
): Promise<void> {
  const { connection, instance } = locked;
  const [abandoned] = (await trx('integration_connection')
    .withSchema(SCHEMA)
    .where({ id: connection.id })
    .update({ status: 'error', error_reason: reason, updated_at: trx.fn.now() })
    .returning([...ABANDONED_COLUMNS])) as TAbandonedRow[];
  await oweAbandoned(trx, abandoned!, ctx, cancelledBy);
  if (instance.status === 'pending' && instance.previous_status !== null) {
    const otherLive = await liveConnections(trx, instance.id).first('id');
    if (!otherLive) {
      await trx('integration_instance').withSchema(SCHEMA).where({ id: instance.id }).update({
        status: instance.previous_status,
        previous_status: null,
        updated_at: trx.fn.now(),
      });
    }
  }
}
