import { Migration } from '@mikro-orm/migrations';
import { MARK_REFERENCES_STALE_V1 } from './Migration20261122054500_disconnect_functions';


/** As this migration creates it; a later migration's down() restores exactly this. */
export const MARK_REFERENCES_STALE_V2 = `create or replace function "sync".mark_references_stale(p_key text, p_org uuid,
    p_instance uuid, p_connection uuid) returns jsonb language plpgsql as $$
declare
  v_subject constant text := 'sync-scheduler.references.mark-stale';
  v_replay jsonb := "sync".replay_of(p_key);
  v_newest timestamptz;
  v_n int;
  v_result jsonb;
begin
  if v_replay is not null then return v_replay; end if;
  if p_connection is null then
    select count(*) into v_n from "sync".external_reference_state
     where org_id = p_org and instance_id = p_instance and status = 'synced';
  else
    -- The view's rule with the scope's newest mark looked up once (the hot path: one index-only range scan).
    v_newest := greatest(
      (select max(stale_since) from "sync".reference_stale_mark
        where instance_id = p_instance and connection_id is null),
      (select max(stale_since) from "sync".reference_stale_mark
        where instance_id = p_instance and connection_id = p_connection));
    select count(*) into v_n from "sync".external_reference r
     where r.org_id = p_org and r.instance_id = p_instance and r.connection_id = p_connection
       and (v_newest is null or r.last_synced_at > v_newest
            or v_newest <= coalesce((select x.restored_at from "sync".reference_restore x
                                      where x.instance_id = p_instance and x.resource = r.resource), '-infinity'));
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
    this.addSql(`create view "sync".external_reference_state as
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
                          and greatest(im.newest, cm.newest) > coalesce(x.restored_at, '-infinity'), false) as stale) s;`);

    // Step 6 (mark-references-stale.handler.ts): counts the scope's references still synced (those an earlier mark
    // already made stale are not counted again) and writes the one mark. No reference row is touched.
    this.addSql(MARK_REFERENCES_STALE_V2);
  }

  override async down(): Promise<void> {
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
