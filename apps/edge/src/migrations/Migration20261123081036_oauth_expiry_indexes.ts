import { Migration } from '@mikro-orm/migrations';

export class Migration20261123081036_oauth_expiry_indexes extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create index "oauth_session_expires_at_idx" on "edge"."oauth_session" ("expires_at");`);

    this.addSql(`create index "pending_authorization_expires_at_idx" on "edge"."pending_authorization" ("expires_at");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "edge"."oauth_session_expires_at_idx";`);

    this.addSql(`drop index "edge"."pending_authorization_expires_at_idx";`);
  }

}
