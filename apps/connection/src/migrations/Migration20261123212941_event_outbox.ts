import { Migration } from '@mikro-orm/migrations';

/**
 * The events the connection service owes JetStream (`connected`, `refresh_token_expired` and the latter's audit
 * entry), written in the transaction of their change and published from here. Connections that exist before this
 * migration owe nothing: their events were published (or lost) before, and none is published again.
 */
export class Migration20261123212941_event_outbox extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "connection"."event_outbox" ("id" uuid not null, "connection_id" uuid not null, "subject" varchar(100) not null, "msg_id" uuid not null, "payload" jsonb not null, "ctx" jsonb not null, "created_at" timestamptz not null, "publish_after" timestamptz not null, "published_at" timestamptz null, constraint "event_outbox_pkey" primary key ("id"));`);
    this.addSql(`create index "event_outbox_owed_idx" on "connection"."event_outbox" ("publish_after") where "published_at" is null;`);
    this.addSql(`create index "event_outbox_connection_owed_idx" on "connection"."event_outbox" ("connection_id") where "published_at" is null;`);
    this.addSql(`create index "event_outbox_published_idx" on "connection"."event_outbox" ("published_at") where "published_at" is not null;`);
    this.addSql(`alter table "connection"."event_outbox" add constraint "event_outbox_subject_msg_id_unique" unique ("subject", "msg_id");`);

    this.addSql(`alter table "connection"."event_outbox" add constraint "event_outbox_connection_id_foreign" foreign key ("connection_id") references "connection"."integration_connection" ("id") on update cascade;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "connection"."event_outbox" cascade;`);
  }

}
