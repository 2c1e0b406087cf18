import { Migration } from '@mikro-orm/migrations';
import { reviseSql } from '@otesse/persistence';
import { DISABLE_JOBS_FOR_CONNECTION_V2 } from './Migration20261123131942_disconnect_job_hold';

/**
 * Step 2 as in V2, and every job of the connection, enabled or not, loses a change of user's pause mark: the jobs are
 * off (and held) for the disconnect, and whatever turns them on again later (the disconnect's compensation, a user's
 * enable after a reconnection's adoption) must not find them held for a change of user that is over.
 */
export const DISABLE_JOBS_FOR_CONNECTION_V3 = reviseSql(DISABLE_JOBS_FOR_CONNECTION_V2, [
  `  select coalesce(jsonb_agg(id::text order by id::text), '[]'::jsonb) into v_jobs from j;
`,
  `  select coalesce(jsonb_agg(id::text order by id::text), '[]'::jsonb) into v_jobs from j;
  update "sync".sync_job set paused_by_saga_id = null, updated_at = now()
   where org_id = p_org and connection_id = p_connection and paused_by_saga_id is not null;
`,
]);

/**
 * A change of user's pause (`sync_job.paused_by_saga_id`, migration `change_user_pause`) could outlive its saga: a
 * pause committed after its compensation's lift had matched nothing (a pause slow to commit on one replica, the
 * lift on another) stamped the jobs with a saga that had ended, and nothing cleared it. The compensation now settles
 * the pause's key first (reenable-jobs-for-saga.handler.ts); a disconnect clears the mark (function V3 above), and so
 * does a reconnection's adoption (create-default-jobs.handler.ts). Marks already left so are lifted here: those whose
 * lift the scheduler has on record (`<saga>:pause-sync:compensate` or `<saga>:resume-sync` processed), which a pause
 * of that saga can only have followed by the race above. down() restores V2; the lifted marks stay lifted.
 */
export class Migration20261124090000_pause_cleared_by_disconnect extends Migration {
  override async up(): Promise<void> {
    this.addSql(DISABLE_JOBS_FOR_CONNECTION_V3);
    this.addSql(`update "sync".sync_job j set paused_by_saga_id = null, updated_at = now()
  where j.paused_by_saga_id is not null
    and exists (select 1 from "sync".processed_command p
                 where p.key in (j.paused_by_saga_id::text || ':pause-sync:compensate',
                                 j.paused_by_saga_id::text || ':resume-sync'));`);
  }

  override async down(): Promise<void> {
    this.addSql(DISABLE_JOBS_FOR_CONNECTION_V2);
  }
}
