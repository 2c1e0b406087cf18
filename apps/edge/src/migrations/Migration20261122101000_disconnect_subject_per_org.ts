import { Migration } from '@mikro-orm/migrations';

/**
 * A disconnect saga's subject is `orgId:connectionId` (it was the connection id). Since version 2 of the saga the
 * lock step authorizes the caller, so the saga row exists before anyone knows whose connection it is: keyed per
 * org, another org's attempt never meets (or blocks, or sees) the owner's saga under the one-open-saga index.
 */
export class Migration20261122101000_disconnect_subject_per_org extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `update "edge"."saga" set "subject_key" = "org_id"::text || ':' || "subject_key" where "type" = 'disconnect' and "subject_key" not like '%:%';`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(
      `update "edge"."saga" set "subject_key" = substr("subject_key", length("org_id"::text) + 2) where "type" = 'disconnect' and "subject_key" like "org_id"::text || ':%';`,
    );
  }
}
