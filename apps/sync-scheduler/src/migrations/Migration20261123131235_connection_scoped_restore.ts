import { Migration } from '@mikro-orm/migrations';
import {
  EXTERNAL_REFERENCE_STATE_V1,
  MARK_REFERENCES_STALE_V2,
  SCOPE_SYNCED_COUNT_V1,
} from './Migration20261122070443_derived_stale';

/** The view of `derived_stale`, the restore matched by the reference's connection as well. */
export const EXTERNAL_REFERENCE_STATE_V2 = `create or replace view "sync".external_reference_state as
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
    left join "sync".reference_restore x
           on x.instance_id = r.instance_id and x.connection_id = r.connection_id and x.resource = r.resource
    cross join lateral (select coalesce(greatest(im.newest, cm.newest) >= r.last_synced_at
                          and greatest(im.newest, cm.newest) > coalesce(x.restored_at, '-infinity'), false) as stale) s;`;

/** As in `derived_stale`, but "every complete sync since" means the connection's own restores. */
export const SCOPE_SYNCED_COUNT_V2 = `create or replace function "sync".scope_synced_count(p_org uuid, p_instance uuid, p_connection uuid)
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
  -- A mark after every one's last sync and after every restore of them since: all stale.
  if v_newest >= t.last_synced_max and v_newest > coalesce(
       (select max(restored_at) from "sync".reference_restore
         where instance_id = p_instance and connection_id = p_connection), '-infinity') then
    return 0;
  end if;
  -- Partly covered: row by row, by the view's rule.
  select count(*) into v_n from "sync".external_reference_state
   where org_id = p_org and instance_id = p_instance and connection_id = p_connection and status = 'synced';
  return v_n;
end $$;`;

/**
 * A connection's mark also covers what the earlier connections of its slot synced last (connection_lineage): a
 * reconnected user's sync restored those, so the next disconnect of the slot makes them stale again. One mark row
 * per connection of the slot (a handful), each counted in O(1) from the tally; never a reference row.
 */
export const MARK_REFERENCES_STALE_V3 = `create or replace function "sync".mark_references_stale(p_key text, p_org uuid,
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

/**
 * A successful sync restored every stale reference of its instance and resource, whoever's connection had synced
 * them: another user's routine sync turned a disconnected user's references `synced` although nothing synced them
 * (seed 000: "disconnecting your connection does not affect theirs"). Now a restore covers the references that
 * the syncing connection synced last, and those of the earlier connections of its slot — `connection_lineage`,
 * written when a reconnection adopts the slot's jobs (create-default-jobs.handler.ts) — so a reconnection (the same
 * user's, or the app-level connection again) restores them, and nobody else's sync does.
 *
 * Tables generated from the entities; the data, view and functions by hand. Existing restores are copied to every
 * connection with references in their instance, so no reference changes state at the upgrade. Earlier adoptions
 * left no trace: their lineage starts with the next one.
 */
export class Migration20261123131235_connection_scoped_restore extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "sync"."connection_lineage" ("connection_id" uuid not null, "ancestor_id" uuid not null, "org_id" uuid not null, "instance_id" uuid not null, "created_at" timestamptz not null default now(), constraint "connection_lineage_pkey" primary key ("connection_id", "ancestor_id"));`,
    );

    this.addSql(`alter table "sync"."reference_restore" drop constraint "reference_restore_pkey";`);
    this.addSql(`alter table "sync"."reference_restore" add column "connection_id" uuid null;`);
    this.addSql(`insert into "sync".reference_restore (instance_id, connection_id, resource, org_id, restored_at)
  select x.instance_id, t.connection_id, x.resource, x.org_id, x.restored_at
    from "sync".reference_restore x join "sync".reference_tally t on t.instance_id = x.instance_id
   where x.connection_id is null;`);
    this.addSql(`delete from "sync".reference_restore where connection_id is null;`);
    this.addSql(`alter table "sync"."reference_restore" alter column "connection_id" set not null;`);
    this.addSql(
      `alter table "sync"."reference_restore" add constraint "reference_restore_pkey" primary key ("instance_id", "connection_id", "resource");`,
    );

    this.addSql(EXTERNAL_REFERENCE_STATE_V2);
    this.addSql(SCOPE_SYNCED_COUNT_V2);
    this.addSql(MARK_REFERENCES_STALE_V3);
  }

  override async down(): Promise<void> {
    this.addSql(MARK_REFERENCES_STALE_V2);
    this.addSql(SCOPE_SYNCED_COUNT_V1);
    this.addSql(EXTERNAL_REFERENCE_STATE_V1.replace('create view', 'create or replace view'));
    this.addSql(`drop table if exists "sync"."connection_lineage" cascade;`);

    // One restore per instance and resource again: the newest of its connections'.
    this.addSql(`delete from "sync".reference_restore x using "sync".reference_restore y
  where y.instance_id = x.instance_id and y.resource = x.resource
    and (y.restored_at, y.connection_id) > (x.restored_at, x.connection_id);`);
    this.addSql(`alter table "sync"."reference_restore" drop constraint "reference_restore_pkey";`);
    this.addSql(`alter table "sync"."reference_restore" drop column "connection_id";`);
    this.addSql(
      `alter table "sync"."reference_restore" add constraint "reference_restore_pkey" primary key ("instance_id", "resource");`,
    );
  }
}
