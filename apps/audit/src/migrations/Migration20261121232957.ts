import { Migration } from '@mikro-orm/migrations';

export class Migration20261121232957 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "audit"."audit_entry" ("id" uuid not null, "seq" bigint not null, "org_id" uuid not null, "event_id" uuid not null, "actor_user_id" uuid null, "on_behalf_of_user_id" uuid null, "action" varchar(64) not null, "provider" varchar(40) null, "targets" jsonb not null, "outcome" varchar(16) not null, "details" jsonb not null, "occurred_at" timestamptz not null, "recorded_at" timestamptz not null, "ip" varchar(64) null, "trace_id" varchar(64) null, "hash" varchar(64) not null, "prev_hash" varchar(64) null, constraint "audit_entry_pkey" primary key ("id"));`);
    this.addSql(`create index "audit_entry_org_action_idx" on "audit"."audit_entry" ("org_id", "action", "seq");`);
    this.addSql(`alter table "audit"."audit_entry" add constraint "audit_entry_event_id_unique" unique ("event_id");`);
    this.addSql(`alter table "audit"."audit_entry" add constraint "audit_entry_org_seq_unique" unique ("org_id", "seq");`);

    this.addSql(`create table "audit"."chain_head" ("org_id" uuid not null, "seq" bigint not null, "hash" varchar(64) not null, constraint "chain_head_pkey" primary key ("org_id"));`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "audit"."audit_entry" cascade;`);

    this.addSql(`drop table if exists "audit"."chain_head" cascade;`);

  }

}
