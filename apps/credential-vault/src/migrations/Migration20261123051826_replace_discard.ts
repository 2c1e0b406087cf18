import { Migration } from '@mikro-orm/migrations';

export class Migration20261123051826_replace_discard extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "vault"."credential" add column "discard_id" uuid null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "vault"."credential" drop column "discard_id";`);
  }

}
