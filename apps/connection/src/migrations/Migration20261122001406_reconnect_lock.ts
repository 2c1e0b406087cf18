import { Migration } from '@mikro-orm/migrations';

export class Migration20261122001406_reconnect_lock extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "connection"."integration_connection" add column "lock_saga_id" uuid null, add column "lock_purpose" text check ("lock_purpose" in ('reconnect', 'changeUser')) null, add column "locked_at" timestamptz null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "connection"."integration_connection" drop column "lock_saga_id", drop column "lock_purpose", drop column "locked_at";`);
  }

}
