import { Migration } from '@mikro-orm/migrations';

export class Migration20261123023412_discard extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "vault"."credential" add column "discard_requested_at" timestamptz null, add column "discard_subdomain" varchar(255) null;`);
    this.addSql(`create index "credential_discard_idx" on "vault"."credential" ("discard_requested_at") where "discard_requested_at" is not null and "is_deleted" = false;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "vault"."credential_discard_idx";`);
    this.addSql(`alter table "vault"."credential" drop column "discard_requested_at", drop column "discard_subdomain";`);
  }

}
