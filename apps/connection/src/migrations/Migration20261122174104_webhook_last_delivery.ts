import { Migration } from '@mikro-orm/migrations';

export class Migration20261122174104_webhook_last_delivery extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "connection"."webhook_endpoint" add column "last_delivery_at" timestamptz null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "connection"."webhook_endpoint" drop column "last_delivery_at";`);
  }

}
