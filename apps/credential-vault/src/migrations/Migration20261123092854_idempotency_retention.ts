import { Migration } from '@mikro-orm/migrations';

export class Migration20261123092854_idempotency_retention extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create index "processed_command_other_created_idx" on "processed_command" ("created_at") where "key" !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:';`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "vault"."processed_command_other_created_idx";`);
  }

}
