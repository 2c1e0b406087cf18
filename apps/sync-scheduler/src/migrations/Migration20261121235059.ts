import { Migration } from '@mikro-orm/migrations';

export class Migration20261121235059 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "sync"."sync_execution" drop constraint if exists "sync_execution_status_check";`);

    this.addSql(`alter table "sync"."sync_execution" add column "trigger" text check ("trigger" in ('schedule', 'manual')) not null default 'schedule', add column "references_restored" int not null default 0, add column "fetch_ms" int not null default 0, add column "write_ms" int not null default 0, add column "cursor" varchar(2000) null, add column "takeovers" int not null default 0, add column "error_reason" varchar(100) null;`);
    this.addSql(`alter table "sync"."sync_execution" add constraint "sync_execution_status_check" check("status" in ('running', 'succeeded', 'failed', 'cancelled', 'skipped'));`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "sync"."sync_execution" drop constraint if exists "sync_execution_status_check";`);

    // The earlier schema has no 'skipped' (the engine writes it for runs it did not start): such a run becomes a
    // failed one, its reason kept in `error` (error_reason is dropped below), so the old check holds on real data.
    this.addSql(`update "sync"."sync_execution" set "status" = 'failed', "error" = left(coalesce("error", 'skipped: ' || coalesce("error_reason", 'not run')), 2000) where "status" = 'skipped';`);

    this.addSql(`alter table "sync"."sync_execution" drop column "trigger", drop column "references_restored", drop column "fetch_ms", drop column "write_ms", drop column "cursor", drop column "takeovers", drop column "error_reason";`);

    this.addSql(`alter table "sync"."sync_execution" add constraint "sync_execution_status_check" check("status" in ('running', 'succeeded', 'failed', 'cancelled'));`);
  }

}
