import { Migration } from '@mikro-orm/migrations';

export class Migration20261122001313_retired extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "vault"."credential" add column "retired_at" timestamptz null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "vault"."credential" drop column "retired_at";`);
  }

}
