import { Migration } from '@mikro-orm/migrations';

/**
 * `integrations.connection.abandoned` (and, for the connects the system abandoned, its `connection.connect_failed`
 * audit entry) moves from its own outbox on the connection row to the event outbox. Every abandoned event still
 * unpublished is owed there first, as the old publisher built it: the same msgID (the event id, which the audit
 * entry shares), occurredAt = when the connect was abandoned, reason `connect_expired` when none was stored, the
 * org as its context (Otesse-Org); the audit entry's zod defaults (ip, traceId: null) written out, as `oweEvent`
 * stores them. Then the outbox columns and their index go. The table is locked first, so no abandon an older
 * replica commits meanwhile falls between the copy and the drop.
 */
export class Migration20261123233939_abandoned_into_event_outbox extends Migration {

  override async up(): Promise<void> {
    this.addSql(`lock table "connection"."integration_connection" in access exclusive mode;`);
    this.addSql(`insert into "connection"."event_outbox" ("id", "connection_id", "subject", "msg_id", "payload", "ctx", "created_at", "publish_after")
  select gen_random_uuid(), o.id, s.subject, o.event_id, s.payload, jsonb_build_object('orgId', o.org_id), o.at, o.at
    from (
      select c.id, c.org_id, c.instance_id, c.vendor, c.level, c.user_id, c.abandoned_event_id as event_id,
             coalesce(c.error_reason, 'connect_expired') as reason, coalesce(c.abandoned_at, c.updated_at) as at
        from "connection"."integration_connection" c
       where c.abandoned_event_id is not null and c.abandoned_event_published_at is null
    ) o
    cross join lateral (
      select 'integrations.connection.abandoned' as subject,
             jsonb_build_object(
               'eventId', o.event_id, 'occurredAt', "connection".iso_ms(o.at), 'orgId', o.org_id,
               'vendor', o.vendor, 'instanceId', o.instance_id, 'connectionId', o.id, 'level', o.level,
               'userId', o.user_id, 'reason', o.reason) as payload
      union all
      select 'audit.entries.append',
             jsonb_build_object(
               'eventId', o.event_id, 'orgId', o.org_id, 'actorUserId', null, 'onBehalfOfUserId', o.user_id,
               'action', 'connection.connect_failed', 'provider', o.vendor,
               'targets', jsonb_build_object('instanceId', o.instance_id, 'connectionId', o.id),
               'outcome', 'failure', 'details', jsonb_build_object('reason', o.reason, 'level', o.level),
               'occurredAt', "connection".iso_ms(o.at), 'ip', null, 'traceId', null)
       where o.reason in ('connect_expired', 'stale_pending')
    ) s
  on conflict ("subject", "msg_id") do nothing;`);
    this.addSql(`drop index "connection"."integration_connection_abandoned_outbox_idx";`);
    this.addSql(`alter table "connection"."integration_connection" drop column "abandoned_event_id", drop column "abandoned_at", drop column "abandoned_event_published_at";`);
  }

  /**
   * The columns and their index come back empty: the abandoned events stay in the event outbox (the version before
   * this one publishes every owed row of it, whatever its subject), and none is copied back onto its connection.
   */
  override async down(): Promise<void> {
    this.addSql(`alter table "connection"."integration_connection" add column "abandoned_event_id" uuid null, add column "abandoned_at" timestamptz null, add column "abandoned_event_published_at" timestamptz null;`);
    this.addSql(`create index "integration_connection_abandoned_outbox_idx" on "connection"."integration_connection" ("abandoned_at") where "abandoned_event_id" is not null and "abandoned_event_published_at" is null;`);
  }

}
