import { Migration } from '@mikro-orm/migrations';

export class Migration20261122165849_webhook_secret extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "vault"."webhook_secret" ("instance_id" uuid not null, "org_id" uuid not null, "vendor" varchar(40) not null, "ciphertext" text not null, "iv" varchar(24) not null, "auth_tag" varchar(24) not null, "wrapped_data_key" varchar(128) not null, "key_id" varchar(64) not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "webhook_secret_pkey" primary key ("instance_id"));`);
    this.addSql(`create index "webhook_secret_key_id_idx" on "vault"."webhook_secret" ("key_id");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "vault"."webhook_secret" cascade;`);
  }

}
