import { Migration } from '@mikro-orm/migrations';

export class Migration20261121233440 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "vault"."credential" ("id" uuid not null, "org_id" uuid not null, "connection_id" uuid not null, "vendor" varchar(40) not null, "kind" text check ("kind" in ('access_token', 'refresh_token', 'api_key', 'client_secret', 'id_token')) not null, "ciphertext" text not null, "iv" varchar(24) not null, "auth_tag" varchar(24) not null, "wrapped_data_key" varchar(128) not null, "key_id" varchar(64) not null, "is_active" boolean not null, "is_deleted" boolean not null, "expires_at" timestamptz null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "deleted_at" timestamptz null, constraint "credential_pkey" primary key ("id"));`);
    this.addSql(`create index "credential_connection_idx" on "vault"."credential" ("org_id", "connection_id", "is_deleted");`);
    this.addSql(`create index "credential_key_id_idx" on "vault"."credential" ("key_id");`);

    this.addSql(`create table "vault"."processed_command" ("key" varchar(200) not null, "subject" varchar(100) not null, "result" jsonb null, "created_at" timestamptz not null, constraint "processed_command_pkey" primary key ("key"));`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "vault"."credential" cascade;`);

    this.addSql(`drop table if exists "vault"."processed_command" cascade;`);

  }

}
