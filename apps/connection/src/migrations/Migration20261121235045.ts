import { Migration } from '@mikro-orm/migrations';

export class Migration20261121235045 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "connection"."integration_health" add column "next_check_at" timestamptz null, add column "detail" varchar(100) null;`);
    this.addSql(`create index "integration_health_due_idx" on "connection"."integration_health" ("next_check_at") where "checks_enabled";`);

    this.addSql(`alter table "connection"."integration_connection" add column "disconnect_saga_id" uuid null, add column "status_before_disconnect" text check ("status_before_disconnect" in ('pending', 'connected', 'disconnecting', 'revoked', 'error')) null, add column "refresh_token_expired_event_id" uuid null, add column "refresh_token_expired_at" timestamptz null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "connection"."integration_connection" drop column "disconnect_saga_id", drop column "status_before_disconnect", drop column "refresh_token_expired_event_id", drop column "refresh_token_expired_at";`);

    this.addSql(`drop index "connection"."integration_health_due_idx";`);
    this.addSql(`alter table "connection"."integration_health" drop column "next_check_at", drop column "detail";`);
  }

}
