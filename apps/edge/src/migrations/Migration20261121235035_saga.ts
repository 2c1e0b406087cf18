import { Migration } from '@mikro-orm/migrations';

export class Migration20261121235035_saga extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "edge"."saga" ("id" uuid not null, "type" varchar(64) not null, "subject_key" varchar(200) not null, "status" text check ("status" in ('running', 'compensating', 'completed', 'compensated', 'failed')) not null, "current_step" varchar(64) null, "owner" varchar(100) null, "lease_expires_at" timestamptz null, "definition_version" int not null, "org_id" uuid not null, "actor_user_id" uuid not null, "input" jsonb not null, "result" jsonb null, "error" jsonb null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "completed_at" timestamptz null, constraint "saga_pkey" primary key ("id"));`);
    this.addSql(`create unique index "saga_one_open_per_subject" on "saga" ("type", "subject_key") where "status" in ('running', 'compensating');`);
    this.addSql(`create index "saga_recoverable_idx" on "saga" ("lease_expires_at") where "status" in ('running', 'compensating');`);
    this.addSql(`create index "saga_subject_idx" on "edge"."saga" ("type", "subject_key");`);

    this.addSql(`create table "edge"."saga_step" ("id" uuid not null, "saga_id" uuid not null, "seq" int not null, "name" varchar(64) not null, "kind" text check ("kind" in ('compensatable', 'pivot', 'retriable')) not null, "status" text check ("status" in ('pending', 'running', 'succeeded', 'failed', 'compensating', 'compensated', 'skipped')) not null, "attempts" int not null, "idempotency_key" varchar(200) not null, "effect_possible" boolean not null, "result" jsonb null, "error" jsonb null, "started_at" timestamptz null, "completed_at" timestamptz null, "compensated_at" timestamptz null, constraint "saga_step_pkey" primary key ("id"));`);
    this.addSql(`alter table "edge"."saga_step" add constraint "saga_step_saga_name_unique" unique ("saga_id", "name");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "edge"."saga" cascade;`);

    this.addSql(`drop table if exists "edge"."saga_step" cascade;`);
  }

}
