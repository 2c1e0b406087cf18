import { Migration } from '@mikro-orm/migrations';

export class Migration20261123092847_idempotency_retention extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "edge"."saga" add column "records_released_at" timestamptz null;`);
    this.addSql(`create index "saga_records_unreleased_idx" on "saga" ("completed_at") where "records_released_at" is null and "status" in ('completed', 'compensated');`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "edge"."saga_records_unreleased_idx";`);
    this.addSql(`alter table "edge"."saga" drop column "records_released_at";`);
  }

}
