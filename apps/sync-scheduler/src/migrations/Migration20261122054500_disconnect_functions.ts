import { Migration } from '@mikro-orm/migrations';


/** As this migration creates it; a later migration's down() restores exactly this. */
export const MARK_REFERENCES_STALE_V1 = `create or replace function "sync".mark_references_stale(p_key text, p_org uuid,
    p_instance uuid, p_connection uuid) returns jsonb language plpgsql as $$
declare
  v_subject constant text := 'sync-scheduler.references.mark-stale';
  v_replay jsonb := "sync".replay_of(p_key);
  v_instance_mark timestamptz;
  v_n int;
  v_result jsonb;
begin
  if v_replay is not null then return v_replay; end if;
  -- Pending marks of the whole instance cover every reference synced no later than the newest of them.
  select coalesce(max(stale_since), '-infinity') into v_instance_mark from "sync".reference_stale_mark
   where materialized_at is null and instance_id = p_instance and connection_id is null;
  -- Two statements rather than "(x is null or column = x)": a cached generic plan must keep using the index.
  if p_connection is null then
    with covered as (
      select connection_id, max(stale_since) as since from "sync".reference_stale_mark
       where materialized_at is null and instance_id = p_instance and connection_id is not null
       group by connection_id)
    select count(*) into v_n from "sync".external_reference r
      left join covered c on c.connection_id = r.connection_id
     where r.org_id = p_org and r.instance_id = p_instance and r.status = 'synced'
       and r.last_synced_at > v_instance_mark and (c.since is null or r.last_synced_at > c.since);
  else
    select count(*) into v_n from "sync".external_reference r
     where r.org_id = p_org and r.instance_id = p_instance and r.connection_id = p_connection
       and r.status = 'synced' and r.last_synced_at > v_instance_mark
       and r.last_synced_at > coalesce((select max(stale_since) from "sync".reference_stale_mark
             where materialized_at is null and instance_id = p_instance and connection_id = p_connection),
           '-infinity');
  end if;
  insert into "sync".reference_stale_mark (org_id, instance_id, connection_id, stale_since, references_at_mark)
  values (p_org, p_instance, p_connection, now(), v_n);
  v_result := jsonb_build_object('marked', v_n);
  return "sync".store_reply(p_key, v_subject, v_result);
end $$;`;

/** As this migration creates it; a later migration's down() restores exactly this. */
export const DISABLE_JOBS_FOR_CONNECTION_V1 = `create or replace function "sync".disable_jobs_for_connection(p_key text, p_org uuid,
    p_connection uuid, p_saga uuid) returns jsonb language plpgsql as $$
declare
  v_subject constant text := 'sync-scheduler.jobs.disable-for-connection';
  v_replay jsonb := "sync".replay_of(p_key);
  v_jobs jsonb;
  v_executions jsonb;
  v_result jsonb;
begin
  if v_replay is not null then return v_replay; end if;
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
 * The disconnect saga's two scheduler commands as functions, each in one round trip (idempotency check, effect,
 * stored reply in the statement's transaction) where the TypeScript transaction took 6–7. Stored results keep the
 * shape the handlers stored before, so older keys replay the same. See `runSqlCommandOnce`.
 */
export class Migration20261122054500_disconnect_functions extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create or replace function "sync".replay_of(p_key text) returns jsonb
  language sql stable as $$
  select jsonb_build_object('subject', subject, 'result', result, 'replayed', true)
    from "sync".processed_command where key = p_key $$;`);

    // replay_of's twin: the reply stored under its key, answered as done.
    this.addSql(`create or replace function "sync".store_reply(p_key text, p_subject text, p_reply jsonb)
  returns jsonb language plpgsql as $$
begin
  insert into "sync".processed_command (key, subject, result, created_at) values (p_key, p_subject, p_reply, now());
  return jsonb_build_object('subject', p_subject, 'result', p_reply, 'replayed', false);
end $$;`);

    // Step 2 (disable-jobs-for-connection.handler.ts): jobs first — a claim holding a job's lock commits its
    // execution before this update proceeds, so the execution update below sees (and cancels) it.
    this.addSql(DISABLE_JOBS_FOR_CONNECTION_V1);

    // Step 6 (mark-references-stale.handler.ts): counts the scope's references still synced — those a pending mark
    // already covers are stale already and not counted again — and writes the one new mark. Nothing is
    // materialized here: after a burst, the instance's pending marks may cover millions of rows, and that work
    // belongs to the background materializer (and to readers, which materialize what they read).
    this.addSql(MARK_REFERENCES_STALE_V1);
  }

  override async down(): Promise<void> {
    this.addSql(`drop function if exists "sync".mark_references_stale(text, uuid, uuid, uuid);`);
    this.addSql(`drop function if exists "sync".disable_jobs_for_connection(text, uuid, uuid, uuid);`);
    this.addSql(`drop function if exists "sync".store_reply(text, text, jsonb);`);
    this.addSql(`drop function if exists "sync".replay_of(text);`);
  }
}
