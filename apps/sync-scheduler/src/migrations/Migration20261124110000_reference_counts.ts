import { Migration } from '@mikro-orm/migrations';
import { TALLY_REFERENCES_V1 } from './Migration20261122070443_derived_stale';
import {
  MARK_REFERENCES_STALE_V3,
  SCOPE_SYNCED_COUNT_V2,
} from './Migration20261123131235_connection_scoped_restore';

/** The references' tally per instance, connection and resource (reference-tally.entity.ts). */
const TALLY_REFERENCES_V2 = `create or replace function "sync".tally_references() returns trigger language plpgsql as $$
begin
  if tg_op = 'INSERT' then
    insert into "sync".reference_tally as t (instance_id, connection_id, resource, org_id, references_count, last_synced_max)
    select instance_id, connection_id, resource, min(org_id::text)::uuid, count(*), max(last_synced_at)
      from new_rows group by instance_id, connection_id, resource order by instance_id, connection_id, resource
    on conflict (instance_id, connection_id, resource) do update
      set references_count = t.references_count + excluded.references_count,
          last_synced_max = greatest(t.last_synced_max, excluded.last_synced_max);
  elsif tg_op = 'UPDATE' then
    insert into "sync".reference_tally as t (instance_id, connection_id, resource, org_id, references_count, last_synced_max)
    select instance_id, connection_id, resource, min(org_id::text)::uuid, sum(n), coalesce(max(at), '-infinity')
      from (select instance_id, connection_id, resource, org_id, -1 as n, null::timestamptz as at from old_rows
            union all
            select instance_id, connection_id, resource, org_id, 1, last_synced_at from new_rows) d
     group by instance_id, connection_id, resource order by instance_id, connection_id, resource
    on conflict (instance_id, connection_id, resource) do update
      set references_count = t.references_count + excluded.references_count,
          last_synced_max = greatest(t.last_synced_max, excluded.last_synced_max);
  else
    update "sync".reference_tally t set references_count = t.references_count - d.n
      from (select instance_id, connection_id, resource, count(*) as n from old_rows
             group by instance_id, connection_id, resource order by instance_id, connection_id, resource) d
     where t.instance_id = d.instance_id and t.connection_id = d.connection_id and t.resource = d.resource;
  end if;
  return null;
end $$;`;

/**
 * The view's rule (`external_reference_state`), counted from the tally: one row per connection and resource of the
 * scope (the instance, or one connection of it). A row is all synced when no mark covers it or its resource's last
 * complete sync by its connection came at or after the newest mark; all stale when that mark came at or after every
 * one's last sync and after that restore; otherwise (a sync running since the mark) the references synced after the
 * mark are counted, an index range of `external_reference_scope_idx`, and the rest are stale.
 */
const REFERENCE_STATE_COUNTS_V1 = `create or replace function "sync".reference_state_counts(p_org uuid, p_instance uuid,
    p_connection uuid) returns table (synced bigint, stale bigint) language plpgsql stable as $$
declare
  v_newest timestamptz;
  v_n bigint;
begin
  if p_connection is not null then
    -- One connection (the mark step, on every disconnect): no mark covers it, the common case, in three lookups.
    v_newest := greatest(
      (select max(m.stale_since) from "sync".reference_stale_mark m
        where m.instance_id = p_instance and m.connection_id is null),
      (select max(m.stale_since) from "sync".reference_stale_mark m
        where m.instance_id = p_instance and m.connection_id = p_connection));
    if v_newest is null then
      select coalesce(sum(t.references_count), 0) into v_n from "sync".reference_tally t
       where t.instance_id = p_instance and t.connection_id = p_connection and t.org_id = p_org;
      return query select v_n, 0::bigint;
      return;
    end if;
  end if;
  return query
  with im as (
    select max(m.stale_since) as newest from "sync".reference_stale_mark m
     where m.instance_id = p_instance and m.connection_id is null
  ), t as (
    select t.connection_id, t.resource, t.references_count::bigint as n, t.last_synced_max, x.restored_at,
           greatest((select im.newest from im),
                    (select max(m.stale_since) from "sync".reference_stale_mark m
                      where m.instance_id = p_instance and m.connection_id = t.connection_id)) as newest
      from "sync".reference_tally t
      left join "sync".reference_restore x
             on x.instance_id = t.instance_id and x.connection_id = t.connection_id and x.resource = t.resource
     where t.instance_id = p_instance and t.org_id = p_org and t.references_count > 0
       and (p_connection is null or t.connection_id = p_connection)
  ), c as (
    select t.n, case
             when t.newest is null or t.restored_at >= t.newest then t.n
             when t.newest >= t.last_synced_max then 0
             else (select count(*) from "sync".external_reference r
                    where r.instance_id = p_instance and r.connection_id = t.connection_id
                      and r.resource = t.resource and r.last_synced_at > t.newest)
           end as synced_n
      from t
  )
  select coalesce(sum(c.synced_n), 0)::bigint, coalesce(sum(c.n - c.synced_n), 0)::bigint from c;
end $$;`;

/** How many of the references this connection synced last are synced now: the counts' rule, one connection. */
const SCOPE_SYNCED_COUNT_V3 = `create or replace function "sync".scope_synced_count(p_org uuid, p_instance uuid, p_connection uuid)
    returns int language plpgsql stable as $$
declare
  v_n bigint;
begin
  -- plpgsql, not sql: its statement's plan is kept across calls (the mark step runs it on every disconnect).
  select c.synced into v_n from "sync".reference_state_counts(p_org, p_instance, p_connection) c;
  return v_n;
end $$;`;

/** As V3 (connection_scoped_restore), the instance's count from the counts function: the tally has a row per resource. */
const MARK_REFERENCES_STALE_V4 = `create or replace function "sync".mark_references_stale(p_key text, p_org uuid,
    p_instance uuid, p_connection uuid) returns jsonb language plpgsql as $$
declare
  v_subject constant text := 'sync-scheduler.references.mark-stale';
  v_replay jsonb := "sync".replay_of(p_key);
  v_n int;
  v_result jsonb;
begin
  if v_replay is not null then return v_replay; end if;
  if p_connection is null then
    select c.synced::int into v_n from "sync".reference_state_counts(p_org, p_instance, null) c;
    insert into "sync".reference_stale_mark (org_id, instance_id, connection_id, stale_since, references_at_mark)
    values (p_org, p_instance, null, now(), v_n);
  else
    -- The counts read the statement's snapshot: none of these marks counts itself or another of them.
    with slot as (
      select p_connection as connection_id
      union
      select l.ancestor_id from "sync".connection_lineage l
       where l.connection_id = p_connection and l.instance_id = p_instance and l.org_id = p_org
    ), marked as (
      insert into "sync".reference_stale_mark (org_id, instance_id, connection_id, stale_since, references_at_mark)
      select p_org, p_instance, s.connection_id, now(), "sync".scope_synced_count(p_org, p_instance, s.connection_id)
        from slot s
      returning references_at_mark)
    select coalesce(sum(references_at_mark), 0) into v_n from marked;
  end if;
  v_result := jsonb_build_object('marked', v_n);
  return "sync".store_reply(p_key, v_subject, v_result);
end $$;`;

const TALLY_RECORDS_V1 = `create or replace function "sync".tally_records() returns trigger language plpgsql as $$
begin
  if tg_op = 'INSERT' then
    insert into "sync".record_tally as t (instance_id, resource, org_id, records_count)
    select instance_id, resource, min(org_id::text)::uuid, count(*)
      from new_rows group by instance_id, resource order by instance_id, resource
    on conflict (instance_id, resource) do update set records_count = t.records_count + excluded.records_count;
  else
    update "sync".record_tally t set records_count = t.records_count - d.n
      from (select instance_id, resource, count(*) as n from old_rows
             group by instance_id, resource order by instance_id, resource) d
     where t.instance_id = d.instance_id and t.resource = d.resource;
  end if;
  return null;
end $$;`;

/**
 * The jobs panel counted an instance's records and its references by state on every refresh (polled every 1.5 s
 * while a job runs): about 170 ms of Postgres per million references. Now both come from tallies kept by statement
 * triggers in the writers' transactions: `record_tally` per instance and resource, and `reference_tally` gains the
 * resource, so that a resource's last complete sync (`reference_restore`, per connection and resource) settles its
 * references' state without counting them (`reference_state_counts`). The mark step counts the same way.
 *
 * Tables generated from the entities; the data, triggers and functions by hand. The writers of both tables wait
 * while the tallies are rebuilt (a SHARE lock), so no row written meanwhile is missed or counted twice.
 */
export class Migration20261124110000_reference_counts extends Migration {
  override async up(): Promise<void> {
    this.addSql(`lock table "sync"."synced_record", "sync"."external_reference" in share mode;`);

    this.addSql(`create table "sync"."record_tally" ("instance_id" uuid not null, "resource" text check ("resource" in ('contacts', 'invoices', 'tickets')) not null, "org_id" uuid not null, "records_count" bigint not null, constraint "record_tally_pkey" primary key ("instance_id", "resource"));`);
    this.addSql(`insert into "sync".record_tally (instance_id, resource, org_id, records_count)
  select instance_id, resource, min(org_id::text)::uuid, count(*) from "sync".synced_record group by instance_id, resource;`);
    // One statement per writing statement, rows taken in key order (concurrent syncs cannot deadlock on it). An
    // upsert that updates a record fires the update trigger only, which there is none of: the count does not move.
    this.addSql(TALLY_RECORDS_V1);
    this.addSql(`create trigger synced_record_tally_insert after insert on "sync".synced_record
  referencing new table as new_rows for each statement execute function "sync".tally_records();`);
    this.addSql(`create trigger synced_record_tally_delete after delete on "sync".synced_record
  referencing old table as old_rows for each statement execute function "sync".tally_records();`);

    // The references' tally again, per resource.
    this.addSql(`delete from "sync".reference_tally;`);
    this.addSql(`alter table "sync"."reference_tally" drop constraint "reference_tally_pkey";`);
    this.addSql(`alter table "sync"."reference_tally" add column "resource" text check ("resource" in ('contacts', 'invoices', 'tickets')) not null;`);
    this.addSql(`alter table "sync"."reference_tally" add constraint "reference_tally_pkey" primary key ("instance_id", "connection_id", "resource");`);
    this.addSql(`insert into "sync".reference_tally (instance_id, connection_id, resource, org_id, references_count, last_synced_max)
  select instance_id, connection_id, resource, min(org_id::text)::uuid, count(*), max(last_synced_at)
    from "sync".external_reference group by instance_id, connection_id, resource;`);
    this.addSql(TALLY_REFERENCES_V2);

    this.addSql(REFERENCE_STATE_COUNTS_V1);
    this.addSql(SCOPE_SYNCED_COUNT_V3);
    this.addSql(MARK_REFERENCES_STALE_V4);
  }

  override async down(): Promise<void> {
    this.addSql(`lock table "sync"."synced_record", "sync"."external_reference" in share mode;`);

    this.addSql(MARK_REFERENCES_STALE_V3);
    this.addSql(SCOPE_SYNCED_COUNT_V2);
    this.addSql(`drop function if exists "sync".reference_state_counts(uuid, uuid, uuid);`);

    this.addSql(`drop trigger if exists synced_record_tally_delete on "sync".synced_record;`);
    this.addSql(`drop trigger if exists synced_record_tally_insert on "sync".synced_record;`);
    this.addSql(`drop function if exists "sync".tally_records();`);
    this.addSql(`drop table if exists "sync"."record_tally" cascade;`);

    this.addSql(`delete from "sync".reference_tally;`);
    this.addSql(`alter table "sync"."reference_tally" drop constraint "reference_tally_pkey";`);
    this.addSql(`alter table "sync"."reference_tally" drop column "resource";`);
    this.addSql(`alter table "sync"."reference_tally" add constraint "reference_tally_pkey" primary key ("instance_id", "connection_id");`);
    this.addSql(`insert into "sync".reference_tally (instance_id, connection_id, org_id, references_count, last_synced_max)
  select instance_id, connection_id, min(org_id::text)::uuid, count(*), max(last_synced_at)
    from "sync".external_reference group by instance_id, connection_id;`);
    this.addSql(TALLY_REFERENCES_V1);
  }
}
