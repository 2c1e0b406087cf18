import { Migration } from '@mikro-orm/migrations';
import { DISABLE_JOBS_FOR_CONNECTION_V2 } from './Migration20261123131942_disconnect_job_hold';

/**
 * Step 2 as in V2, and every job of the connection, enabled or not, loses a change of user's pause mark: the jobs are
 * off (and held) for the disconnect, and whatever turns them on again later (the disconnect's compensation, a user's
 * enable after a reconnection's adoption) must not find them held for a change of user that is over.
 */
export const DISABLE_JOBS_FOR_CONNECTION_V3 = `create or replace function "sync".disable_jobs_for_connection(p_key text, p_org uuid,
    p_connection uuid, p_saga uuid) returns jsonb language plpgsql as $$
declare
  v_subject constant text := 'sync-scheduler.jobs.disable-for-connection';
  v_replay jsonb := "sync".replay_of(p_key);
  v_jobs jsonb;
  v_executions jsonb;
  v_result jsonb;
begin
  if v_replay is not null then return v_replay; end if;
  perform 1 from "sync".sync_job where org_id = p_org and connection_id = p_connection order by id for update;
  insert into "sync".connection_job_hold as h (connection_id, org_id, saga_id, held_at)
  values (p_connection, p_org, p_saga, now())
  on conflict (connection_id) do update set saga_id = excluded.saga_id, held_at = excluded.held_at
   where h.org_id = excluded.org_id;
  with j as (
    update "sync".sync_job
       set is_enabled = false, disabled_by_saga_id = p_saga, run_requested_at = null, updated_at = now()
     where org_id = p_org and connection_id = p_connection and is_enabled
    returning id)
  select coalesce(jsonb_agg(id::text order by id::text), '[]'::jsonb) into v_jobs from j;
  update "sync".sync_job set paused_by_saga_id = null, updated_at = now()
   where org_id = p_org and connection_id = p_connection and paused_by_saga_id is not null;
  with e as (
    update "sync".sync_execution
       set status = 'cancelled', completed_at = now(), cancel_requested_at = now(), updated_at = now(),
           error_reason = 'disconnect', error = 'cancelled: the connection is being disconnected'
     where org_id = p_org and connection_id = p_connection and status = 'running'
    returning id)
  select coalesce(jsonb_agg(id::text), '[]'::jsonb) into v_executions from e;
  v_result := jsonb_build_object('jobsDisabled', jsonb_array_length(v_jobs), 'jobIds', v_jobs,
    'executionsCancelled', jsonb_array_length(v_executions), 'cancelledExecutionIds', v_executions);
  return "sync".store_reply(p_key, v_subject, v_result);
end $$;`;

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
