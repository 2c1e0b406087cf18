import type { Knex } from '@mikro-orm/postgresql';
import type { Logger } from '@otesse/logging';
import type { EventPublisher } from '@otesse/messaging';
import { abandonedPublishFailures } from '../pending/abandoned-metrics';
import {
  SCHEMA,
  iso,
  liveConnections,
  type TConnectionRow,
  type TDb,
  type TInstanceRow,
} from './connection.store';

/**
 * Reasons the system gives when it abandons a connect on its own: nobody else audits those, so the outbox
 * publishes an audit entry with the event. (`connect_failed` comes from the edge, which audits it itself.)
 */
export const SYSTEM_ABANDON_REASONS = ['connect_expired', 'stale_pending'] as const;

/**
 * The outbox columns of a pending → error move: the event to publish, and when the connect was abandoned. The id
 * is drawn per row, so one update may abandon several connections.
 */
export const abandonedOutbox = (trx: Knex.Transaction): Record<string, unknown> => ({
  abandoned_event_id: trx.raw('gen_random_uuid()'),
  abandoned_at: trx.fn.now(),
});

/**
 * A pending connection (row-locked with its instance by `lockConnection`) ends `error`, with its abandoned event
 * in the outbox. When the instance was only pending for this connect (no other live connection), it goes back to
 * what it was before (revoked or error).
 */
export async function abandonPendingConnection(
  trx: Knex.Transaction,
  locked: { connection: TConnectionRow; instance: TInstanceRow },
  reason: string,
): Promise<void> {
  const { connection, instance } = locked;
  await trx('integration_connection')
    .withSchema(SCHEMA)
    .where({ id: connection.id })
    .update({
      status: 'error',
      error_reason: reason,
      ...abandonedOutbox(trx),
      updated_at: trx.fn.now(),
    });
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

type TOutboxRow = Pick<
  TConnectionRow,
  'id' | 'org_id' | 'instance_id' | 'vendor' | 'level' | 'user_id' | 'error_reason'
> & { abandoned_event_id: string; abandoned_at: Date | string };

const OUTBOX_COLUMNS = [
  'id',
  'org_id',
  'instance_id',
  'vendor',
  'level',
  'user_id',
  'error_reason',
  'abandoned_event_id',
  'abandoned_at',
] as const;

/**
 * Publishes the abandoned events still in the outbox (all of them, or those of `connectionIds`), with an audit
 * entry for the ones the system abandoned, and marks each published once JetStream acknowledged it. Returns how
 * many were published. A failed publish ends the round and stays in the outbox for the next sweep; publishing
 * one twice (a request and the sweep at once) is harmless: the msgID is the event id, and every consumer dedupes
 * by it.
 */
export async function publishAbandonedOutbox(
  deps: { db: TDb; events: EventPublisher; logger: Logger },
  opts: {
    connectionIds?: readonly string[];
    limit?: number;
    traceId?: string;
    /** Per publish: a request path waits briefly, the sweep longer (its next run retries anyway). */
    timeoutMs?: number;
  } = {},
): Promise<number> {
  const q = deps
    .db('integration_connection')
    .withSchema(SCHEMA)
    .whereNotNull('abandoned_event_id')
    .whereNull('abandoned_event_published_at');
  if (opts.connectionIds) q.whereIn('id', [...opts.connectionIds]);
  const rows = (await q
    .orderBy('abandoned_at')
    .limit(opts.limit ?? 500)
    .select(...OUTBOX_COLUMNS)) as TOutboxRow[];
  const published: string[] = [];
  for (const r of rows) {
    const occurredAt = iso(r.abandoned_at);
    const reason = r.error_reason ?? 'connect_expired';
    const ctx = { ...(opts.traceId ? { traceId: opts.traceId } : {}), orgId: r.org_id };
    try {
      await deps.events.publish(
        'integrations.connection.abandoned',
        {
          eventId: r.abandoned_event_id,
          occurredAt,
          orgId: r.org_id,
          vendor: r.vendor,
          instanceId: r.instance_id,
          connectionId: r.id,
          level: r.level,
          userId: r.user_id,
          reason,
        },
        { msgId: r.abandoned_event_id, ctx, timeoutMs: opts.timeoutMs ?? 5_000 },
      );
      if ((SYSTEM_ABANDON_REASONS as readonly string[]).includes(reason)) {
        // Another stream, so the same id serves as the audit entry's (the audit dedupes by it).
        await deps.events.publish(
          'audit.entries.append',
          {
            eventId: r.abandoned_event_id,
            orgId: r.org_id,
            actorUserId: null,
            onBehalfOfUserId: r.user_id,
            action: 'connection.connect_failed',
            provider: r.vendor,
            targets: { instanceId: r.instance_id, connectionId: r.id },
            outcome: 'failure',
            details: { reason, level: r.level },
            occurredAt,
          },
          { msgId: r.abandoned_event_id, ctx, timeoutMs: opts.timeoutMs ?? 5_000 },
        );
      }
      published.push(r.id);
    } catch (err) {
      deps.logger.warn(
        { err, connectionId: r.id, eventId: r.abandoned_event_id },
        'publishing an abandoned connect failed; the next sweep retries',
      );
      abandonedPublishFailures.inc();
      // JetStream is most likely away: the rest would each wait out its timeout too.
      break;
    }
  }
  if (published.length > 0) {
    await deps
      .db('integration_connection')
      .withSchema(SCHEMA)
      .whereIn('id', published)
      .update({ abandoned_event_published_at: deps.db.fn.now() });
  }
  return published.length;
}
