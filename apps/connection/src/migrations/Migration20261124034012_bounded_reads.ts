import { Migration } from '@mikro-orm/migrations';

export class Migration20261124034012_bounded_reads extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create index "integration_connection_members_idx" on "connection"."integration_connection" ("org_id", "vendor", "created_at", "id") where "level" = 'user' and "status" in ('pending', 'connected', 'disconnecting');`);
    this.addSql(`create index "integration_connection_slot_idx" on "connection"."integration_connection" ("instance_id", "level", "user_id", "created_at");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "connection"."integration_connection_members_idx";`);
    this.addSql(`drop index "connection"."integration_connection_slot_idx";`);
  }

}
