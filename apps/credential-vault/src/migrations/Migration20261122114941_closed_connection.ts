import { Migration } from '@mikro-orm/migrations';

export class Migration20261122114941_closed_connection extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "vault"."closed_connection" ("connection_id" uuid not null, "org_id" uuid not null, "reason" varchar(200) not null, "closed_at" timestamptz not null, constraint "closed_connection_pkey" primary key ("connection_id"));`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "vault"."closed_connection" cascade;`);
  }

}
