import { Migration } from '@mikro-orm/migrations';
import { MARK_REFERENCES_STALE_V1 } from './Migration20261122054500_disconnect_functions';

/** As this migration creates them; a later migration's down() restores exactly these. */
export const EXTERNAL_REFERENCE_STATE_V1 = `create view "sync".external_reference_state as
  select r.id, r.org_id, r.instance_id, r.connection_id, r.resource, r.external_id, r.local_record_id,
         r.last_synced_at,
         case when s.stale then 'stale' else 'synced' end as status,
         case when s.stale then (
           select min(m.stale_since) from "sync".reference_stale_mark m
            where m.instance_id = r.instance_id and (m.connection_id is null or m.connection_id = r.connection_id)
              and m.stale_since >= r.last_synced_at and m.stale_since > coalesce(x.restored_at, '-infinity'))
         end as stale_since
    from "sync".external_reference r
    left join (select instance_id, max(stale_since) as newest from "sync".reference_stale_mark
                where connection_id is null group by instance_id) im on im.instance_id = r.instance_id
    left join (select instance_id, connection_id, max(stale_since) as newest from "sync".reference_stale_mark
                where connection_id is not null group by instance_id, connection_id) cm
           on cm.instance_id = r.instance_id and cm.connection_id = r.connection_id
    left join "sync".reference_restore x on x.instance_id = r.instance_id and x.resource = r.resource
    cross join lateral (select coalesce(greatest(im.newest, cm.newest) >= r.last_synced_at
                          and greatest(im.newest, cm.newest) > coalesce(x.restored_at, '-infinity'), false) as stale) s;`;

export const SCOPE_SYNCED_COUNT_V1 = `create or replace function "sync".scope_synced_count(p_org uuid, p_instance uuid, p_connection uuid)
    returns int language plpgsql stable as $$
declare
  t "sync".reference_tally%rowtype;
  v_newest timestamptz;
  v_n int;
begin
  select * into t from "sync".reference_tally
   where instance_id = p_instance and connection_id = p_connection and org_id = p_org;
  if not found or t.references_count = 0 then return 0; end if;
  v_newest := greatest(
    (select max(stale_since) from "sync".reference_stale_mark where instance_id = p_instance and connection_id is null),
    (select max(stale_since) from "sync".reference_stale_mark where instance_id = p_instance and connection_id = p_connection));
  -- No mark covers them: all synced.
  if v_newest is null then return t.references_count; end if;
  -- A mark after every one's last sync and after every complete sync of the instance since: all stale.
  if v_newest >= t.last_synced_max and v_newest > coalesce(
       (select max(restored_at) from "sync".reference_restore where instance_id = p_instance), '-infinity') then
    return 0;
  end if;
  -- Partly covered: row by row, by the view's rule.
  select count(*) into v_n from "sync".external_reference_state
   where org_id = p_org and instance_id = p_instance and connection_id = p_connection and status = 'synced';
  return v_n;
end $$;`;

/** The references' tally trigger as this migration creates it, per instance and connection. */
export const TALLY_REFERENCES_V1 = `create or replace function "sync".tally_references() returns trigger language plpgsql as $$
begin
  if tg_op = 'INSERT' then
    insert into "sync".reference_tally as t (instance_id, connection_id, org_id, references_count, last_synced_max)
    select instance_id, connection_id, min(org_id::text)::uuid, count(*), max(last_synced_at)
      from new_rows group by instance_id, connection_id order by instance_id, connection_id
    on conflict (instance_id, connection_id) do update
      set references_count = t.references_count + excluded.references_count,
          last_synced_max = greatest(t.last_synced_max, excluded.last_synced_max);
  elsif tg_op = 'UPDATE' then
    insert into "sync".reference_tally as t (instance_id, connection_id, org_id, references_count, last_synced_max)
    select instance_id, connection_id, min(org_id::text)::uuid, sum(n), coalesce(max(at), '-infinity')
      from (select instance_id, connection_id, org_id, -1 as n, null::timestamptz as at from old_rows
            union all
            select instance_id, connection_id, org_id, 1, last_synced_at from new_rows) d
     group by instance_id, connection_id order by instance_id, connection_id
    on conflict (instance_id, connection_id) do update
      set references_count = t.references_count + excluded.references_count,
          last_synced_max = greatest(t.last_synced_max, excluded.last_synced_max);
  else
    update "sync".reference_tally t set references_count = t.references_count - d.n
      from (select instance_id, connection_id, count(*) as n from old_rows
             group by instance_id, connection_id order by instance_id, connection_id) d
     where t.instance_id = d.instance_id and t.connection_id = d.connection_id;
  end if;
  return null;
end $$;`;

export const MARK_REFERENCES_STALE_V2 = `create or replace function "sync".mark_references_stale(p_key text, p_org uuid,
    p_instance uuid, p_connection uuid) returns jsonb language plpgsql as $$
declare
  v_subject constant text := 'sync-scheduler.references.mark-stale';
  v_replay jsonb := "sync".replay_of(p_key);
  v_n int;
  v_result jsonb;
begin
  if v_replay is not null then return v_replay; end if;
  if p_connection is null then
    select coalesce(sum("sync".scope_synced_count(p_org, p_instance, t.connection_id)), 0) into v_n
      from "sync".reference_tally t where t.instance_id = p_instance and t.org_id = p_org;
  else
    v_n := "sync".scope_synced_count(p_org, p_instance, p_connection);
  end if;
  insert into "sync".reference_stale_mark (org_id, instance_id, connection_id, stale_since, references_at_mark)
  values (p_org, p_instance, p_connection, now(), v_n);
  v_result := jsonb_build_object('marked', v_n);
  return "sync".store_reply(p_key, v_subject, v_result);
end $$;`;


/**
 * References' `synced | stale` becomes derived instead of stored. A disconnect used to rewrite every reference of
 * its scope (10,000 rows each in the benchmark, six index entries per row) — in the background, but at 250
 * disconnects a second that is millions of row versions a second, and every reader first had to apply pending
 * marks. Now the mark row is the whole write; the view `sync.external_reference_state` derives each reference's
 * status and `stale_since` from the marks of its scope and its resource's last complete sync (`reference_restore`,
 * moved forward by each successful sync). The table changes were generated from the entities; the data, the view
 * and the functions are written by hand.
 *
 * The mark step's count comes from `reference_tally` (per instance and connection: how many references that
 * connection synced last, and the newest `last_synced_at` among them), kept in the writers' own transactions by
 * statement-level triggers with transition tables. `scope_synced_count` answers from it in O(1) when no mark covers
 * the connection (the common case) or one covers all of it; only a partly covered scope is counted, by the view.
 *
 * Rows already materialized keep their meaning: a `stale` row has the mark that made it stale; a row a sync
 * restored needs that sync in `reference_restore`, seeded from each resource's newest succeeded execution (a
 * restore and its execution's completion share one transaction, so one timestamp).
 */
export class Migration20261122070443_derived_stale extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "sync"."reference_restore" ("instance_id" uuid not null, "resource" text check ("resource" in ('contacts', 'invoices', 'tickets')) not null, "org_id" uuid not null, "restored_at" timestamptz not null, constraint "reference_restore_pkey" primary key ("instance_id", "resource"));`);
    this.addSql(`insert into "sync"."reference_restore" (instance_id, resource, org_id, restored_at)
  select j.instance_id, j.resource, min(j.org_id::text)::uuid, max(e.completed_at)
    from "sync".sync_execution e join "sync".sync_job j on j.id = e.job_id
   where e.status = 'succeeded' and e.completed_at is not null
   group by j.instance_id, j.resource;`);

    this.addSql(`drop index "sync"."external_reference_connection_status_idx";`);
    this.addSql(`drop index "sync"."external_reference_instance_status_idx";`);
    this.addSql(`alter table "sync"."external_reference" drop column "status", drop column "stale_since";`);

    this.addSql(`create index "external_reference_scope_idx" on "sync"."external_reference" ("instance_id", "connection_id", "resource", "last_synced_at") include ("org_id");`);

    this.addSql(`drop index "sync"."reference_stale_mark_pending_idx";`);
    this.addSql(`alter table "sync"."reference_stale_mark" drop column "materialized_at", drop column "materialized";`);

    this.addSql(`create index "reference_stale_mark_scope_idx" on "sync"."reference_stale_mark" ("instance_id", "connection_id", "stale_since");`);

    // A reference is stale when the newest mark covering it (its instance's, or its last connection's) is at or
    // after its last sync and after its resource's last complete sync; it is stale since the first such mark.
    // Grouped joins rather than a subquery per row: counting an instance's references is one index-only scan
    // with two small hash joins (the planner carries "instance_id = …" into the grouped marks).
    this.addSql(EXTERNAL_REFERENCE_STATE_V1);

    // The mark step's count: per instance and connection, the references it synced last and the newest
    // last_synced_at among them (reference-tally.entity.ts).
    this.addSql(`create table "sync"."reference_tally" ("instance_id" uuid not null, "connection_id" uuid not null, "org_id" uuid not null, "references_count" int not null, "last_synced_max" timestamptz not null, constraint "reference_tally_pkey" primary key ("instance_id", "connection_id"));`);
    this.addSql(`insert into "sync".reference_tally (instance_id, connection_id, org_id, references_count, last_synced_max)
  select instance_id, connection_id, min(org_id::text)::uuid, count(*), max(last_synced_at)
    from "sync".external_reference group by instance_id, connection_id;`);

    // One statement per writing statement, rows taken in key order (two syncs re-linking each other's references
    // cannot deadlock on the tally). Removed references and re-linked ones leave their old connection's count.
    this.addSql(TALLY_REFERENCES_V1);
    this.addSql(`create trigger external_reference_tally_insert after insert on "sync".external_reference
  referencing new table as new_rows for each statement execute function "sync".tally_references();`);
    this.addSql(`create trigger external_reference_tally_update after update on "sync".external_reference
  referencing old table as old_rows new table as new_rows for each statement execute function "sync".tally_references();`);
    this.addSql(`create trigger external_reference_tally_delete after delete on "sync".external_reference
  referencing old table as old_rows for each statement execute function "sync".tally_references();`);

    // How many of the references this connection synced last are synced now.
    this.addSql(SCOPE_SYNCED_COUNT_V1);

    // Step 6 (mark-references-stale.handler.ts): counts the scope's references still synced (those an earlier mark
    // already made stale are not counted again) and writes the one mark. No reference row is touched.
    this.addSql(MARK_REFERENCES_STALE_V2);
  }

  override async down(): Promise<void> {
    this.addSql(`drop function if exists "sync".scope_synced_count(uuid, uuid, uuid);`);
    this.addSql(`drop trigger if exists external_reference_tally_delete on "sync".external_reference;`);
    this.addSql(`drop trigger if exists external_reference_tally_update on "sync".external_reference;`);
    this.addSql(`drop trigger if exists external_reference_tally_insert on "sync".external_reference;`);
    this.addSql(`drop function if exists "sync".tally_references();`);
    this.addSql(`drop table if exists "sync"."reference_tally" cascade;`);
    // Back to stored states: every row gets the state the view gives it now, every mark counts as applied.
    this.addSql(`alter table "sync"."external_reference" add column "status" text check ("status" in ('synced', 'stale')) null, add column "stale_since" timestamptz(6) null;`);
    this.addSql(`update "sync"."external_reference" r set status = s.status, stale_since = s.stale_since
  from "sync".external_reference_state s where s.id = r.id;`);
    this.addSql(`alter table "sync"."external_reference" alter column "status" set not null;`);
    this.addSql(`drop view if exists "sync".external_reference_state;`);
    this.addSql(`drop table if exists "sync"."reference_restore" cascade;`);

    this.addSql(`drop index "sync"."external_reference_scope_idx";`);
    this.addSql(`create index "external_reference_connection_status_idx" on "sync"."external_reference" ("connection_id", "status");`);
    this.addSql(`create index "external_reference_instance_status_idx" on "sync"."external_reference" ("instance_id", "status");`);

    this.addSql(`drop index "sync"."reference_stale_mark_scope_idx";`);
    this.addSql(`alter table "sync"."reference_stale_mark" add column "materialized_at" timestamptz(6) null, add column "materialized" int4 null;`);
    this.addSql(`update "sync"."reference_stale_mark" set materialized_at = now(), materialized = 0;`);
    this.addSql(`CREATE INDEX reference_stale_mark_pending_idx ON sync.reference_stale_mark USING btree (instance_id, stale_since) WHERE (materialized_at IS NULL);`);

    // The previous step 6, as migration disconnect_functions created it.
    this.addSql(MARK_REFERENCES_STALE_V1);
  }
}
