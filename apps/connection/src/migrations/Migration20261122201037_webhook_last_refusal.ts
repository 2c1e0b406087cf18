import { Migration } from '@mikro-orm/migrations';

export class Migration20261122201037_webhook_last_refusal extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "connection"."webhook_endpoint" add column "last_refused_at" timestamptz null, add column "last_refusal_reason" varchar(40) null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "connection"."webhook_endpoint" drop column "last_refused_at", drop column "last_refusal_reason";`);
  }

}
