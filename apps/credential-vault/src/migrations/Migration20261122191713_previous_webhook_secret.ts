import { Migration } from '@mikro-orm/migrations';

export class Migration20261122191713_previous_webhook_secret extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "vault"."webhook_secret_previous" ("instance_id" uuid not null, "org_id" uuid not null, "vendor" varchar(40) not null, "ciphertext" text not null, "iv" varchar(24) not null, "auth_tag" varchar(24) not null, "wrapped_data_key" varchar(128) not null, "key_id" varchar(64) not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "expires_at" timestamptz not null, "last_used_at" timestamptz null, constraint "webhook_secret_previous_pkey" primary key ("instance_id"));`);
    this.addSql(`create index "webhook_secret_previous_key_id_idx" on "vault"."webhook_secret_previous" ("key_id");`);
    this.addSql(`create index "webhook_secret_previous_expires_at_idx" on "vault"."webhook_secret_previous" ("expires_at");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "vault"."webhook_secret_previous" cascade;`);
  }

}
