import { Migration } from '@mikro-orm/migrations';

export class Migration20261123132546_retired_credentials extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "connection"."integration_connection" add column "retired_credential_ids" uuid[] not null default '{}';`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "connection"."integration_connection" drop column "retired_credential_ids";`);
  }

}
