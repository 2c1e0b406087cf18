import { Migration } from '@mikro-orm/migrations';

export class Migration20261121233457 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "connection"."integration_instance" ("id" uuid not null, "org_id" uuid not null, "vendor" varchar(40) not null, "status" text check ("status" in ('pending', 'connected', 'revoked', 'error')) not null, "previous_status" text check ("previous_status" in ('pending', 'connected', 'revoked', 'error')) null, "config" jsonb not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "integration_instance_pkey" primary key ("id"));`);
    this.addSql(`alter table "connection"."integration_instance" add constraint "integration_instance_org_vendor_unique" unique ("org_id", "vendor");`);

    this.addSql(`create table "connection"."integration_health" ("id" uuid not null, "instance_id" uuid not null, "status" text check ("status" in ('healthy', 'degraded', 'unhealthy', 'unknown')) not null, "checked_at" timestamptz null, "checks_enabled" boolean not null default false, "updated_at" timestamptz not null, constraint "integration_health_pkey" primary key ("id"));`);
    this.addSql(`alter table "connection"."integration_health" add constraint "integration_health_instance_unique" unique ("instance_id");`);

    this.addSql(`create table "connection"."integration_connection" ("id" uuid not null, "org_id" uuid not null, "instance_id" uuid not null, "vendor" varchar(40) not null, "level" text check ("level" in ('app', 'user')) not null, "user_id" uuid not null, "status" text check ("status" in ('pending', 'connected', 'disconnecting', 'revoked', 'error')) not null, "external_account_id" varchar(300) null, "tenant_id" varchar(300) null, "refresh_token_expired" boolean not null default false, "details" jsonb not null, "error_reason" varchar(200) null, "instance_reused" boolean not null default false, "connected_event_id" uuid null, "connected_at" timestamptz null, "revoked_at" timestamptz null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "integration_connection_pkey" primary key ("id"));`);
    this.addSql(`create index "integration_connection_org_idx" on "connection"."integration_connection" ("org_id", "vendor");`);
    this.addSql(`create index "integration_connection_instance_idx" on "connection"."integration_connection" ("instance_id", "status");`);
    this.addSql(`create unique index "integration_connection_one_live_app" on "connection"."integration_connection" ("instance_id") where "level" = 'app' and "status" in ('pending', 'connected', 'disconnecting');`);
    this.addSql(`create unique index "integration_connection_one_live_user" on "connection"."integration_connection" ("instance_id", "user_id") where "level" = 'user' and "status" in ('pending', 'connected', 'disconnecting');`);

    this.addSql(`create table "connection"."processed_command" ("key" varchar(200) not null, "subject" varchar(100) not null, "result" jsonb null, "created_at" timestamptz not null, constraint "processed_command_pkey" primary key ("key"));`);

    this.addSql(`create table "connection"."webhook_endpoint" ("id" uuid not null, "instance_id" uuid not null, "connection_id" uuid null, "url" varchar(300) not null, "status" text check ("status" in ('enabled', 'disabled')) not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "webhook_endpoint_pkey" primary key ("id"));`);
    this.addSql(`alter table "connection"."webhook_endpoint" add constraint "webhook_endpoint_instance_unique" unique ("instance_id");`);

    this.addSql(`alter table "connection"."integration_health" add constraint "integration_health_instance_id_foreign" foreign key ("instance_id") references "connection"."integration_instance" ("id") on update cascade;`);

    this.addSql(`alter table "connection"."integration_connection" add constraint "integration_connection_instance_id_foreign" foreign key ("instance_id") references "connection"."integration_instance" ("id") on update cascade;`);

    this.addSql(`alter table "connection"."webhook_endpoint" add constraint "webhook_endpoint_instance_id_foreign" foreign key ("instance_id") references "connection"."integration_instance" ("id") on update cascade;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "connection"."integration_health" drop constraint "integration_health_instance_id_foreign";`);

    this.addSql(`alter table "connection"."integration_connection" drop constraint "integration_connection_instance_id_foreign";`);

    this.addSql(`alter table "connection"."webhook_endpoint" drop constraint "webhook_endpoint_instance_id_foreign";`);

    this.addSql(`drop table if exists "connection"."integration_instance" cascade;`);

    this.addSql(`drop table if exists "connection"."integration_health" cascade;`);

    this.addSql(`drop table if exists "connection"."integration_connection" cascade;`);

    this.addSql(`drop table if exists "connection"."processed_command" cascade;`);

    this.addSql(`drop table if exists "connection"."webhook_endpoint" cascade;`);

  }

}
