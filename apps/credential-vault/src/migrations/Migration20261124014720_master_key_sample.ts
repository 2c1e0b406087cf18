import { Migration } from '@mikro-orm/migrations';

export class Migration20261124014720_master_key_sample extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create index "credential_key_sample_idx" on "vault"."credential" ("key_id", "created_at") where "is_deleted" = false;`);

    this.addSql(`drop index "vault"."webhook_secret_key_id_idx";`);

    this.addSql(`create index "webhook_secret_key_id_idx" on "vault"."webhook_secret" ("key_id", "updated_at");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "vault"."credential_key_sample_idx";`);

    this.addSql(`drop index "vault"."webhook_secret_key_id_idx";`);

    this.addSql(`create index "webhook_secret_key_id_idx" on "vault"."webhook_secret" ("key_id");`);
  }

}
