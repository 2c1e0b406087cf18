import { Migration } from '@mikro-orm/migrations';
import { MARK_REFERENCES_STALE_V2 } from './Migration20261122070443_derived_stale';

/**
 * The disconnect's mark step without counting 10,000 index entries: `reference_tally` keeps, per instance and
 * connection, how many references that connection synced last and the newest `last_synced_at` among them, in the
 * writers' own transactions (statement-level triggers with transition tables: every writer, set-based or not).
 * `scope_synced_count` answers from it in O(1) when no mark covers the connection (the common case) or one
 * covers all of it; only a partly covered scope is counted row by row, by the view's rule. The table was
 * generated from the entity; the triggers, the backfill and the functions are written by hand.
 */
export class Migration20261122074506_reference_tally extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "sync"."reference_tally" ("instance_id" uuid not null, "connection_id" uuid not null, "org_id" uuid not null, "references_count" int not null, "last_synced_max" timestamptz not null, constraint "reference_tally_pkey" primary key ("instance_id", "connection_id"));`);
    this.addSql(`insert into "sync".reference_tally (instance_id, connection_id, org_id, references_count, last_synced_max)
  select instance_id, connection_id, min(org_id::text)::uuid, count(*), max(last_synced_at)
    from "sync".external_reference group by instance_id, connection_id;`);

    // One statement per writing statement, rows taken in key order (two syncs re-linking each other's references
    // cannot deadlock on the tally). Removed references and re-linked ones leave their old connection's count.
    this.addSql(`create or replace function "sync".tally_references() returns trigger language plpgsql as $$
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
end $$;`);
    this.addSql(`create trigger external_reference_tally_insert after insert on "sync".external_reference
  referencing new table as new_rows for each statement execute function "sync".tally_references();`);
    this.addSql(`create trigger external_reference_tally_update after update on "sync".external_reference
  referencing old table as old_rows new table as new_rows for each statement execute function "sync".tally_references();`);
    this.addSql(`create trigger external_reference_tally_delete after delete on "sync".external_reference
  referencing old table as old_rows for each statement execute function "sync".tally_references();`);

    // How many of the references this connection synced last are synced now (the view's rule).
    this.addSql(`create or replace function "sync".scope_synced_count(p_org uuid, p_instance uuid, p_connection uuid)
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
  -- Partly covered: row by row.
  select count(*) into v_n from "sync".external_reference r
   where r.org_id = p_org and r.instance_id = p_instance and r.connection_id = p_connection
     and (r.last_synced_at > v_newest
          or v_newest <= coalesce((select x.restored_at from "sync".reference_restore x
                                    where x.instance_id = p_instance and x.resource = r.resource), '-infinity'));
  return v_n;
end $$;`);

    // Step 6 (mark-references-stale.handler.ts): counts the scope's references still synced (those an earlier mark
    // already made stale are not counted again) and writes the one mark. No reference row is touched.
    this.addSql(`create or replace function "sync".mark_references_stale(p_key text, p_org uuid,
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
end $$;`);
  }

  override async down(): Promise<void> {
    // As migration derived_stale created it.
    this.addSql(MARK_REFERENCES_STALE_V2);
    this.addSql(`drop function if exists "sync".scope_synced_count(uuid, uuid, uuid);`);
    this.addSql(`drop trigger if exists external_reference_tally_delete on "sync".external_reference;`);
    this.addSql(`drop trigger if exists external_reference_tally_update on "sync".external_reference;`);
    this.addSql(`drop trigger if exists external_reference_tally_insert on "sync".external_reference;`);
    this.addSql(`drop function if exists "sync".tally_references();`);
    this.addSql(`drop table if exists "sync"."reference_tally" cascade;`);
  }
}
