import { Migration } from '@mikro-orm/migrations';

/**
 * A change of user holds the connection's jobs off across its swap (`sync_job.paused_by_saga_id`): the claims skip
 * a paused job, so no run starts on the previous user's token between the cancel of its running executions and the
 * swap. Generated.
 */
export class Migration20261123180350_change_user_pause extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "sync"."sync_job" add column "paused_by_saga_id" uuid null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "sync"."sync_job" drop column "paused_by_saga_id";`);
  }

}
