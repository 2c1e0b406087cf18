import { Migration } from '@mikro-orm/migrations';
import { DISABLE_JOBS_FOR_CONNECTION_V1 } from './Migration20261122054500_disconnect_functions';

/**
 * Step 2 as before, plus the connection's hold (connection-job-hold.entity.ts), taken under the row locks of all
 * the connection's jobs, enabled or not. A user's enable locks its job and reads the hold in the transaction that
 * turns it on (set-job-enabled.handler.ts): either the enable commits first and the update here sees the job
 * enabled (and disables it, for this saga), or it waits for this commit and finds the hold.
 */
export const DISABLE_JOBS_FOR_CONNECTION_V2 = `create or replace function "sync".disable_jobs_for_connection(p_key text, p_org uuid,
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
 * A user's enable that passed its connection check just before a disconnect's disable step used to turn its job
 * back on after it (the step disables only the jobs enabled at that moment), so the job stayed enabled on a revoked
 * connection and a reconnection adopted it enabled (seed 000: "kept, disabled"). The table is generated from the
 * entity; the function by hand. Connections whose jobs a disconnect holds now are held from the upgrade on.
 */
export class Migration20261123131942_disconnect_job_hold extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "sync"."connection_job_hold" ("connection_id" uuid not null, "org_id" uuid not null, "saga_id" uuid not null, "held_at" timestamptz not null default now(), constraint "connection_job_hold_pkey" primary key ("connection_id"));`,
    );
    this.addSql(`insert into "sync".connection_job_hold (connection_id, org_id, saga_id, held_at)
  select distinct on (connection_id) connection_id, org_id, disabled_by_saga_id, updated_at
    from "sync".sync_job where disabled_by_saga_id is not null
   order by connection_id, updated_at desc;`);
    this.addSql(DISABLE_JOBS_FOR_CONNECTION_V2);
  }

  override async down(): Promise<void> {
    this.addSql(DISABLE_JOBS_FOR_CONNECTION_V1);
    this.addSql(`drop table if exists "sync"."connection_job_hold" cascade;`);
  }
}
