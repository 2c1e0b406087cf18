import { Migration } from '@mikro-orm/migrations';

export class Migration20261123180052_webhook_delivery extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "edge"."webhook_delivery" ("endpoint_id" uuid not null, "body_sha256" varchar(64) not null, "signed_timestamp" varchar(64) not null, "received_at" timestamptz not null, "claim_id" uuid not null, "claimed_at" timestamptz not null, "published_at" timestamptz null, constraint "webhook_delivery_pkey" primary key ("endpoint_id", "body_sha256", "signed_timestamp"));`);
    this.addSql(`create index "webhook_delivery_received_at_idx" on "edge"."webhook_delivery" ("received_at");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "edge"."webhook_delivery" cascade;`);
  }

}
