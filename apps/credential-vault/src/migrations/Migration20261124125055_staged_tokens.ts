import { Migration } from '@mikro-orm/migrations';

export class Migration20261124125055_staged_tokens extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "vault"."credential" add column "staged_until" timestamptz null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "vault"."credential" drop column "staged_until";`);
  }

}
