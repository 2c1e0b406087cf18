import { Migration } from '@mikro-orm/migrations';

export class Migration20261122114926_abandoned_outbox extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "connection"."integration_connection" add column "abandoned_event_id" uuid null, add column "abandoned_at" timestamptz null, add column "abandoned_event_published_at" timestamptz null;`);
    this.addSql(`create index "integration_connection_pending_idx" on "connection"."integration_connection" ("created_at") where "status" = 'pending';`);
    this.addSql(`create index "integration_connection_abandoned_outbox_idx" on "connection"."integration_connection" ("abandoned_at") where "abandoned_event_id" is not null and "abandoned_event_published_at" is null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "connection"."integration_connection_pending_idx";`);
    this.addSql(`drop index "connection"."integration_connection_abandoned_outbox_idx";`);
    this.addSql(`alter table "connection"."integration_connection" drop column "abandoned_event_id", drop column "abandoned_at", drop column "abandoned_event_published_at";`);
  }

}
