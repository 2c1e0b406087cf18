import { EntitySchema } from '@mikro-orm/core';

/**
 * An event (or audit entry) this service owes JetStream: written in the transaction of the change it announces, with
 * its payload as it will be published (frozen: a re-publish is the very same message), published after the commit
 * and marked published once JetStream acknowledged it; the pending-connect sweep publishes what is still owed. One
 * row per (subject, msgId): owing an event twice is a no-op. Published rows are deleted after a week.
 */
export interface EventOutbox {
  id: string;
  /** The connection the event is about (a request publishes that connection's owed events). */
  connectionId: string;
  subject: string;
  /** The JetStream msgID (the event's id): a duplicate publish is dropped. */
  msgId: string;
  /** The payload, already validated against the subject's contract. */
  payload: Record<string, unknown>;
  /** The message context (traceId, actorUserId, orgId) of the request that caused it: its headers. */
  ctx: Record<string, string>;
  createdAt: Date;
  /** Not published before this time (an audit entry another service normally writes first). */
  publishAfter: Date;
  /** When JetStream acknowledged it; null: still owed. */
  publishedAt: Date | null;
}

export const EventOutboxSchema = new EntitySchema<EventOutbox>({
  name: 'EventOutbox',
  tableName: 'event_outbox',
  uniques: [{ name: 'event_outbox_subject_msg_id_unique', properties: ['subject', 'msgId'] }],
  indexes: [
    // The sweep's scan of owed events, and a request's of its connection's.
    {
      name: 'event_outbox_owed_idx',
      expression: `create index "event_outbox_owed_idx" on "connection"."event_outbox" ("publish_after") where "published_at" is null`,
    },
    {
      name: 'event_outbox_connection_owed_idx',
      expression: `create index "event_outbox_connection_owed_idx" on "connection"."event_outbox" ("connection_id") where "published_at" is null`,
    },
    {
      name: 'event_outbox_published_idx',
      expression: `create index "event_outbox_published_idx" on "connection"."event_outbox" ("published_at") where "published_at" is not null`,
    },
  ],
  properties: {
    id: { type: 'uuid', primary: true },
    connectionId: {
      kind: 'm:1',
      entity: 'IntegrationConnection',
      mapToPk: true,
      joinColumn: 'connection_id',
    } as never,
    subject: { type: 'string', length: 100 },
    msgId: { type: 'uuid' },
    payload: { type: 'json' },
    ctx: { type: 'json' },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    publishAfter: { type: 'datetime', columnType: 'timestamptz' },
    publishedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
  },
});
