import { Migration } from '@mikro-orm/migrations';

export class Migration20261121233414 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "sync"."external_reference" ("id" uuid not null default gen_random_uuid(), "org_id" uuid not null, "instance_id" uuid not null, "connection_id" uuid not null, "resource" text check ("resource" in ('contacts', 'invoices', 'tickets')) not null, "external_id" varchar(300) not null, "local_record_id" uuid not null, "status" text check ("status" in ('synced', 'stale')) not null, "last_synced_at" timestamptz not null, "stale_since" timestamptz null, constraint "external_reference_pkey" primary key ("id"));`);
    this.addSql(`create index "external_reference_instance_status_idx" on "sync"."external_reference" ("instance_id", "status");`);
    this.addSql(`create index "external_reference_connection_status_idx" on "sync"."external_reference" ("connection_id", "status");`);
    this.addSql(`alter table "sync"."external_reference" add constraint "external_reference_instance_resource_external_unique" unique ("instance_id", "resource", "external_id");`);

    this.addSql(`create table "sync"."field_mapping" ("id" uuid not null default gen_random_uuid(), "org_id" uuid not null, "instance_id" uuid not null, "resource" text check ("resource" in ('contacts', 'invoices', 'tickets')) not null, "local_field" varchar(200) not null, "remote_field" varchar(200) not null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), constraint "field_mapping_pkey" primary key ("id"));`);
    this.addSql(`alter table "sync"."field_mapping" add constraint "field_mapping_instance_resource_local_unique" unique ("instance_id", "resource", "local_field");`);

    this.addSql(`create table "sync"."processed_command" ("key" varchar(200) not null, "subject" varchar(100) not null, "result" jsonb null, "created_at" timestamptz not null, constraint "processed_command_pkey" primary key ("key"));`);

    this.addSql(`create table "sync"."synced_record" ("id" uuid not null default gen_random_uuid(), "org_id" uuid not null, "instance_id" uuid not null, "resource" text check ("resource" in ('contacts', 'invoices', 'tickets')) not null, "external_id" varchar(300) not null, "data" jsonb not null, "synced_at" timestamptz not null, "source_connection_id" uuid not null, constraint "synced_record_pkey" primary key ("id"));`);
    this.addSql(`create index "synced_record_org_resource_idx" on "sync"."synced_record" ("org_id", "resource");`);
    this.addSql(`alter table "sync"."synced_record" add constraint "synced_record_instance_resource_external_unique" unique ("instance_id", "resource", "external_id");`);

    this.addSql(`create table "sync"."sync_job" ("id" uuid not null default gen_random_uuid(), "org_id" uuid not null, "instance_id" uuid not null, "connection_id" uuid not null, "vendor" varchar(40) not null, "resource" text check ("resource" in ('contacts', 'invoices', 'tickets')) not null, "schedule" jsonb not null, "is_enabled" boolean not null default true, "next_run_at" timestamptz null, "last_run_at" timestamptz null, "run_requested_at" timestamptz null, "disabled_by_saga_id" uuid null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), constraint "sync_job_pkey" primary key ("id"));`);
    this.addSql(`create index "sync_job_org_instance_idx" on "sync"."sync_job" ("org_id", "instance_id");`);
    this.addSql(`alter table "sync"."sync_job" add constraint "sync_job_connection_resource_unique" unique ("connection_id", "resource");`);

    this.addSql(`create table "sync"."sync_execution" ("id" uuid not null default gen_random_uuid(), "job_id" uuid not null, "org_id" uuid not null, "connection_id" uuid not null, "status" text check ("status" in ('running', 'succeeded', 'failed', 'cancelled')) not null, "started_at" timestamptz not null default now(), "completed_at" timestamptz null, "lease_owner" varchar(100) null, "lease_expires_at" timestamptz null, "records_fetched" int not null default 0, "records_written" int not null default 0, "references_upserted" int not null default 0, "batches" int not null default 0, "error" varchar(2000) null, "cancel_requested_at" timestamptz null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), constraint "sync_execution_pkey" primary key ("id"));`);
    this.addSql(`create index "sync_execution_job_started_idx" on "sync"."sync_execution" ("job_id", "started_at");`);

    this.addSql(`alter table "sync"."sync_execution" add constraint "sync_execution_job_id_foreign" foreign key ("job_id") references "sync"."sync_job" ("id") on update no action on delete cascade;`);

    // Hand-written (MikroORM cannot express partial indexes or cross-column checks); undone first in down().
    // Due claims (`where is_enabled and next_run_at <= now() … for update skip locked`) scan enabled jobs only.
    this.addSql(`create index "sync_job_due_idx" on "sync"."sync_job" ("next_run_at") where "is_enabled";`);
    // "Run now" requests, claimed ahead of the schedule.
    this.addSql(`create index "sync_job_run_requested_idx" on "sync"."sync_job" ("run_requested_at") where "is_enabled" and "run_requested_at" is not null;`);
    // A saga's compensation re-enables exactly the jobs it disabled.
    this.addSql(`create index "sync_job_disabled_by_saga_idx" on "sync"."sync_job" ("disabled_by_saga_id") where "disabled_by_saga_id" is not null;`);
    // At most one running execution per job: a second claim of the same job fails instead of syncing twice.
    this.addSql(`create unique index "sync_execution_one_running_per_job" on "sync"."sync_execution" ("job_id") where "status" = 'running';`);
    // Reaping expired leases, and the disconnect saga cancelling a connection's running executions.
    this.addSql(`create index "sync_execution_running_lease_idx" on "sync"."sync_execution" ("lease_expires_at") where "status" = 'running';`);
    this.addSql(`create index "sync_execution_running_connection_idx" on "sync"."sync_execution" ("connection_id") where "status" = 'running';`);
    // A finished execution has completedAt, a running one has not (cancellation sets both at once).
    this.addSql(`alter table "sync"."sync_execution" add constraint "sync_execution_completed_iff_finished" check (("status" = 'running') = ("completed_at" is null));`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "sync"."sync_execution" drop constraint if exists "sync_execution_completed_iff_finished";`);
    this.addSql(`drop index if exists "sync"."sync_execution_running_connection_idx";`);
    this.addSql(`drop index if exists "sync"."sync_execution_running_lease_idx";`);
    this.addSql(`drop index if exists "sync"."sync_execution_one_running_per_job";`);
    this.addSql(`drop index if exists "sync"."sync_job_disabled_by_saga_idx";`);
    this.addSql(`drop index if exists "sync"."sync_job_run_requested_idx";`);
    this.addSql(`drop index if exists "sync"."sync_job_due_idx";`);
    this.addSql(`alter table "sync"."sync_execution" drop constraint "sync_execution_job_id_foreign";`);

    this.addSql(`drop table if exists "sync"."external_reference" cascade;`);

    this.addSql(`drop table if exists "sync"."field_mapping" cascade;`);

    this.addSql(`drop table if exists "sync"."processed_command" cascade;`);

    this.addSql(`drop table if exists "sync"."synced_record" cascade;`);

    this.addSql(`drop table if exists "sync"."sync_job" cascade;`);

    this.addSql(`drop table if exists "sync"."sync_execution" cascade;`);

  }

}
