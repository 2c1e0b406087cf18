import { Migration } from '@mikro-orm/migrations';

/** Released ended sagas by age: what SAGA_HISTORY_RETENTION_MS deletes, found without reading the whole log. */
export class Migration20261125040000_saga_history extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create index "saga_history_idx" on "edge"."saga" ("completed_at") where "records_released_at" is not null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "edge"."saga_history_idx";`);
  }

}
