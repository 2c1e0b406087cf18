import { Migration } from '@mikro-orm/migrations';

export class Migration20261122214942_saga_resume extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "edge"."saga" add column "resumed_count" int not null default 0;`);
    this.addSql(`create index "saga_org_created_idx" on "edge"."saga" ("org_id", "created_at", "id");`);
    this.addSql(`create index "saga_stopped_idx" on "saga" ("type") where "status" = 'failed';`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "edge"."saga_org_created_idx";`);
    this.addSql(`drop index "edge"."saga_stopped_idx";`);
    this.addSql(`alter table "edge"."saga" drop column "resumed_count";`);
  }

}
