import { Migration } from '@mikro-orm/migrations';

export class Migration20261122020620_stale_marks extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "sync"."reference_stale_mark" ("id" uuid not null default gen_random_uuid(), "org_id" uuid not null, "instance_id" uuid not null, "connection_id" uuid null, "stale_since" timestamptz not null, "references_at_mark" int not null, "materialized_at" timestamptz null, "materialized" int null, constraint "reference_stale_mark_pkey" primary key ("id"));`);
    this.addSql(`create index "reference_stale_mark_pending_idx" on "reference_stale_mark" ("instance_id", "stale_since") where "materialized_at" is null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "sync"."reference_stale_mark" cascade;`);
  }

}
