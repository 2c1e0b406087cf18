import { Migration } from '@mikro-orm/migrations';

export class Migration20261121233352 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "edge"."api_token" ("id" uuid not null, "user_id" uuid not null, "org_id" uuid not null, "token_hash" varchar(64) not null, "prefix" varchar(16) not null, "label" varchar(200) not null, "created_at" timestamptz not null, "last_used_at" timestamptz null, "revoked_at" timestamptz null, constraint "api_token_pkey" primary key ("id"));`);
    this.addSql(`alter table "edge"."api_token" add constraint "api_token_hash_unique" unique ("token_hash");`);

    this.addSql(`create table "edge"."oauth_session" ("sid" varchar(64) not null, "data" jsonb not null, "expires_at" timestamptz not null, constraint "oauth_session_pkey" primary key ("sid"));`);

    this.addSql(`create table "edge"."org" ("id" uuid not null, "name" varchar(200) not null, "created_at" timestamptz not null, constraint "org_pkey" primary key ("id"));`);

    this.addSql(`create table "edge"."pending_authorization" ("id" uuid not null, "start_key_hash" varchar(64) not null, "state_hash" varchar(64) null, "binding_hash" varchar(64) null, "org_id" uuid not null, "user_id" uuid not null, "vendor" varchar(40) not null, "flow" varchar(8) not null, "action" varchar(16) null, "target_connection_id" uuid null, "created_at" timestamptz not null, "expires_at" timestamptz not null, "started_at" timestamptz null, "completed_at" timestamptz null, "outcome" varchar(64) null, constraint "pending_authorization_pkey" primary key ("id"));`);
    this.addSql(`alter table "edge"."pending_authorization" add constraint "pending_authorization_start_key_unique" unique ("start_key_hash");`);
    this.addSql(`alter table "edge"."pending_authorization" add constraint "pending_authorization_state_unique" unique ("state_hash");`);

    this.addSql(`create table "edge"."app_user" ("id" uuid not null, "org_id" uuid not null, "email" varchar(320) not null, "name" varchar(200) not null, "permissions" jsonb not null, "created_at" timestamptz not null, constraint "app_user_pkey" primary key ("id"));`);
    this.addSql(`create index "app_user_org_idx" on "edge"."app_user" ("org_id");`);
    this.addSql(`alter table "edge"."app_user" add constraint "app_user_email_unique" unique ("email");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "edge"."api_token" cascade;`);

    this.addSql(`drop table if exists "edge"."oauth_session" cascade;`);

    this.addSql(`drop table if exists "edge"."org" cascade;`);

    this.addSql(`drop table if exists "edge"."pending_authorization" cascade;`);

    this.addSql(`drop table if exists "edge"."app_user" cascade;`);

  }

}
