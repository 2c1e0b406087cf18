import { Migration } from '@mikro-orm/migrations';

export class Migration20261123233505_refusal_backoff extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "vault"."credential" add column "refused_at" timestamptz null, add column "forced_refreshes" int not null default 0, add column "last_forced_refresh_at" timestamptz null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "vault"."credential" drop column "refused_at", drop column "forced_refreshes", drop column "last_forced_refresh_at";`);
  }

}
