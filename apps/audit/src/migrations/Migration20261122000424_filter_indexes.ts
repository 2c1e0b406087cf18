import { Migration } from '@mikro-orm/migrations';

export class Migration20261122000424_filter_indexes extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create index "audit_entry_org_actor_idx" on "audit"."audit_entry" ("org_id", "actor_user_id", "seq");`);
    this.addSql(`create index "audit_entry_org_provider_idx" on "audit"."audit_entry" ("org_id", "provider", "seq");`);
    this.addSql(`create index "audit_entry_org_occurred_idx" on "audit"."audit_entry" ("org_id", "occurred_at") include ("seq");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "audit"."audit_entry_org_actor_idx";`);
    this.addSql(`drop index "audit"."audit_entry_org_provider_idx";`);
    this.addSql(`drop index "audit"."audit_entry_org_occurred_idx";`);
  }

}
