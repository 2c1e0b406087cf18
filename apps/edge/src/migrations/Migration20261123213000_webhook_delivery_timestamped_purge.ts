import { Migration } from '@mikro-orm/migrations';

/**
 * Deliveries of timestamped schemes (Slack, HubSpot, Zendesk) are purged 15 minutes after first receipt, not after
 * the retention (`seen-deliveries.ts`): this index lets the purge find them without walking the body-only rows
 * kept for days. Rows already stored need nothing: the purge tells them apart by their signed timestamp.
 */
export class Migration20261123213000_webhook_delivery_timestamped_purge extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create index "webhook_delivery_timestamped_received_at_idx" on "edge"."webhook_delivery" ("received_at") where "signed_timestamp" <> '';`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists "edge"."webhook_delivery_timestamped_received_at_idx";`);
  }

}
