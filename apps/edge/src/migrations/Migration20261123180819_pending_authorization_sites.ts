import { Migration } from '@mikro-orm/migrations';

export class Migration20261123180819_pending_authorization_sites extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "edge"."pending_authorization" add column "sites" jsonb null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "edge"."pending_authorization" drop column "sites";`);
  }

}
