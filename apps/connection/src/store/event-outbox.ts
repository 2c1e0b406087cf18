import { randomUUID } from 'node:crypto';
import type { Knex } from '@mikro-orm/postgresql';
import {
  eventContracts,
  isAppError,
  type TEventInput,
  type TEventSubject,
} from '@otesse/contracts';
import type { Logger } from '@otesse/logging';
import type { EventPublisher, TMessageContext } from '@otesse/messaging';
import { databaseTimeIn } from '@otesse/persistence';
import { counter } from '@otesse/telemetry';
import { SCHEMA, type TConnectionRow, type TDb } from './connection.store';

/** Owed events whose publish failed (JetStream away): they stay owed, the next sweep publishes them. */
export const outboxPublishFailures = counter(
  'otesse_event_outbox_publish_failures_total',
  'Publishes of owed events (connected, refresh_token_expired, abandoned, their audit entries) that failed and stay owed.',
  ['subject'],
);

/** Published rows are kept this long (a request re-publishing its event finds it published), then deleted. */
export const OUTBOX_RETENTION_MS = 7 * 86_400_000;

/**
 * An owed event's headers. No traceId on the abandoned events the abandoned-outbox migration carried over (the old
 * outbox kept none): each publish of those draws one, as the old publisher's sweep did.
 */
type TOutboxCtx = Partial<Pick<TMessageContext, 'traceId'>> & {
  actorUserId?: string;
  orgId: string;
};

interface TOutboxRow {
  id: string;
  subject: TEventSubject;
  msg_id: string;
  payload: Record<string, unknown>;
  ctx: TOutboxCtx;
}

/** The key of one owed event in `publishOwedEvents`' answer. */
export const outboxKey = (subject: TEventSubject, msgId: string): string => `${subject} ${msgId}`;

/**
 * Records, in the caller's transaction, that `payload` is owed on `subject` with msgID `msgId` (the event id). The
 * payload is validated here, so a payload its contract refuses fails the command instead of blocking the outbox,
 * and stored as it will be published: every publish of it is the very same message. Owing the same (subject,
 * msgId) again is a no-op. `delayMs`: not published before (an audit entry another service normally writes).
 */
export async function oweEvent<S extends TEventSubject>(
  trx: Knex.Transaction,
  e: {
    connectionId: string;
    subject: S;
    msgId: string;
    payload: TEventInput<S>;
    ctx: { traceId: string; actorUserId?: string | undefined; orgId: string };
    delayMs?: number;
  },
): Promise<void> {
  const payload = eventContracts[e.subject].payload.parse(e.payload) as Record<string, unknown>;
  const ctx: TOutboxCtx = {
    traceId: e.ctx.traceId,
    orgId: e.ctx.orgId,
    ...(e.ctx.actorUserId ? { actorUserId: e.ctx.actorUserId } : {}),
  };
  await trx('event_outbox')
    .withSchema(SCHEMA)
    .insert({
      id: randomUUID(),
      connection_id: e.connectionId,
      subject: e.subject,
      msg_id: e.msgId,
      payload: JSON.stringify(payload),
      ctx: JSON.stringify(ctx),
      created_at: trx.fn.now(),
      publish_after: e.delayMs ? databaseTimeIn(trx, e.delayMs) : trx.fn.now(),
    })
    .onConflict(['subject', 'msg_id'])
    .ignore();
}

/**
 * Publishes the owed events that are due (all of them, or those of `connectionIds`), oldest first, each with its
 * stored msgID and headers (Otesse-Org among them), and marks each published once JetStream acknowledged it. A
 * failed publish (JetStream away) ends the round: the rest stay owed for the next sweep, as it does. Publishing
 * one twice (a request and the sweep at once, a process killed before marking it) is harmless: JetStream drops the
 * duplicate msgID within its window, and every consumer dedupes by event id. Answers how many were published and
 * the keys (`outboxKey`) of those left owed.
 */
export async function publishOwedEvents(
  deps: { db: TDb; events: EventPublisher; logger: Logger },
  opts: { connectionIds?: readonly string[]; limit?: number; timeoutMs?: number } = {},
): Promise<{ published: number; owed: Set<string> }> {
  const q = deps
    .db('event_outbox')
    .withSchema(SCHEMA)
    .whereNull('published_at')
    .andWhere('publish_after', '<=', deps.db.fn.now());
  if (opts.connectionIds) q.whereIn('connection_id', [...opts.connectionIds]);
  const rows = (await q
    .orderBy([
      { column: 'publish_after', order: 'asc' },
      { column: 'created_at', order: 'asc' },
    ])
    .limit(opts.limit ?? 500)
    .select('id', 'subject', 'msg_id', 'payload', 'ctx')) as TOutboxRow[];
  const published: string[] = [];
  const owed = new Set(rows.map((r) => outboxKey(r.subject, r.msg_id)));
  for (const r of rows) {
    try {
      await deps.events.publish(r.subject, r.payload as never, {
        msgId: r.msg_id,
        ctx: r.ctx,
        timeoutMs: opts.timeoutMs ?? 5_000,
      });
      published.push(r.id);
      owed.delete(outboxKey(r.subject, r.msg_id));
    } catch (err) {
      outboxPublishFailures.inc({ subject: r.subject });
      if (isAppError(err) && err.code === 'BAD_REQUEST') {
        // Validated when it was owed, so only a contract changed since can refuse it: said loudly, kept owed.
        deps.logger.error(
          { err, subject: r.subject, eventId: r.msg_id },
          'an owed event no longer passes its contract; it stays owed',
        );
        continue;
      }
      deps.logger.warn(
        { err, subject: r.subject, eventId: r.msg_id },
        'publishing an owed event failed; it stays owed and the next sweep retries',
      );
      // JetStream is most likely away: the rest would each wait out its timeout too.
      break;
    }
  }
  if (published.length > 0) {
    await deps
      .db('event_outbox')
      .withSchema(SCHEMA)
      .whereIn('id', published)
      .update({ published_at: deps.db.fn.now() });
  }
  return { published: published.length, owed };
}

/** Deletes up to `limit` events published more than `olderThanMs` ago; answers how many. */
export async function purgePublishedEvents(
  db: TDb,
  opts: { olderThanMs?: number; limit: number },
): Promise<number> {
  const old = db('event_outbox')
    .withSchema(SCHEMA)
    .whereNotNull('published_at')
    .andWhere('published_at', '<', databaseTimeIn(db, -(opts.olderThanMs ?? OUTBOX_RETENTION_MS)))
    .limit(opts.limit)
    .select('id');
  return db('event_outbox').withSchema(SCHEMA).whereIn('id', old).del();
}

type TAboutConnection = Pick<
  TConnectionRow,
  'id' | 'org_id' | 'instance_id' | 'vendor' | 'level' | 'user_id'
>;

/** The fields every `integrations.connection.*` event the service owes carries, from the connection's row. */
export function connectionEventFields(c: TAboutConnection) {
  return {
    orgId: c.org_id,
    vendor: c.vendor,
    instanceId: c.instance_id,
    connectionId: c.id,
    level: c.level,
    userId: c.user_id,
  };
}

/**
 * The audit entry the system writes about a connection (no actor: on behalf of its owner), under the event's own
 * id: another stream, so one id serves both and the audit dedupes by it.
 */
export function systemAuditEntry(
  c: TAboutConnection,
  e: {
    eventId: string;
    action: TEventInput<'audit.entries.append'>['action'];
    details: Record<string, unknown>;
    occurredAt: string;
    traceId?: string;
  },
): TEventInput<'audit.entries.append'> {
  return {
    eventId: e.eventId,
    orgId: c.org_id,
    actorUserId: null,
    onBehalfOfUserId: c.user_id,
    action: e.action,
    provider: c.vendor,
    targets: { instanceId: c.instance_id, connectionId: c.id },
    outcome: 'failure',
    details: e.details,
    occurredAt: e.occurredAt,
    ...(e.traceId === undefined ? {} : { traceId: e.traceId }),
  };
}
