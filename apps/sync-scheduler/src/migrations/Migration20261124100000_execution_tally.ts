import { Migration } from '@mikro-orm/migrations';

/**
 * Execution counts per job and status, kept by statement triggers on `sync_execution` (execution-tally.entity.ts),
 * and the index the retention sweep walks (ended executions by `completed_at`).
 */
export class Migration20261124100000_execution_tally extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "sync"."execution_tally" ("job_id" uuid not null, "status" text not null, "executions_count" bigint not null, constraint "execution_tally_pkey" primary key ("job_id", "status"));`);

    this.addSql(`create index "sync_execution_completed_idx" on "sync"."sync_execution" ("completed_at") where "status" <> 'running';`);

    // What the executions say today.
    this.addSql(`insert into "sync".execution_tally (job_id, status, executions_count)
  select job_id, status, count(*) from "sync".sync_execution group by job_id, status;`);

    // One statement per writing statement, rows taken in key order (two statements counting the same jobs cannot
    // deadlock on the tally; nothing else locks its rows). A deleted execution (the retention sweep) stays counted:
    // the counts are the job's whole life.
    this.addSql(`create or replace function "sync".tally_executions() returns trigger language plpgsql as $$
begin
  if tg_op = 'INSERT' then
    insert into "sync".execution_tally as t (job_id, status, executions_count)
    select job_id, status, count(*) from new_rows group by job_id, status order by job_id, status
    on conflict (job_id, status) do update set executions_count = t.executions_count + excluded.executions_count;
  else
    insert into "sync".execution_tally as t (job_id, status, executions_count)
    select job_id, status, sum(n) from (
        select o.job_id, o.status, -1 as n from old_rows o join new_rows w on w.id = o.id
         where w.status is distinct from o.status
        union all
        select w.job_id, w.status, 1 from old_rows o join new_rows w on w.id = o.id
         where w.status is distinct from o.status) d
     group by job_id, status having sum(n) <> 0 order by job_id, status
    on conflict (job_id, status) do update set executions_count = t.executions_count + excluded.executions_count;
  end if;
  return null;
end $$;`);
    this.addSql(`create trigger sync_execution_tally_insert after insert on "sync".sync_execution
  referencing new table as new_rows for each statement execute function "sync".tally_executions();`);
    this.addSql(`create trigger sync_execution_tally_update after update on "sync".sync_execution
  referencing old table as old_rows new table as new_rows for each statement execute function "sync".tally_executions();`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop trigger if exists sync_execution_tally_update on "sync".sync_execution;`);
    this.addSql(`drop trigger if exists sync_execution_tally_insert on "sync".sync_execution;`);
    this.addSql(`drop function if exists "sync".tally_executions();`);
    this.addSql(`drop table if exists "sync"."execution_tally" cascade;`);

    this.addSql(`drop index "sync"."sync_execution_completed_idx";`);
  }
}
