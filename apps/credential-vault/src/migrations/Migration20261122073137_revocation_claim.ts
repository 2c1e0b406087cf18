import { Migration } from '@mikro-orm/migrations';

/** begin_revocation as this migration creates it (a later migration's down() restores exactly this). */
export const BEGIN_REVOCATION_V1 = `create or replace function "vault".begin_revocation(p_key text, p_subject text, p_org uuid,
    p_connection uuid, p_vendor text, p_ids uuid[], p_lease_ms int) returns jsonb language plpgsql as $$
declare
  v_prior "vault".processed_command%rowtype;
  v_claim "vault".revocation_claim%rowtype;
  v_rows jsonb;
  v_found int;
begin
  select * into v_prior from "vault".processed_command where key = p_key;
  if found then
    return jsonb_build_object('subject', v_prior.subject, 'result', v_prior.result, 'replayed', true);
  end if;
  perform pg_advisory_xact_lock(hashtextextended('vault:connection:' || p_connection::text, 0));
  insert into "vault".revocation_claim as c (key, org_id, connection_id, blocks_refresh, claimed_until, created_at)
  values (p_key, p_org, p_connection, p_ids is null, now() + p_lease_ms * interval '1 millisecond', now())
  on conflict (key) do update set claimed_until = excluded.claimed_until
   where c.claimed_until < now() and c.org_id = excluded.org_id and c.connection_id = excluded.connection_id
  returning * into v_claim;
  if not found then
    select * into v_claim from "vault".revocation_claim where key = p_key;
    if v_claim.org_id <> p_org or v_claim.connection_id <> p_connection then
      raise exception using errcode = 'OT001',
        message = 'this idempotency key was already used for another command',
        detail = '{"code":"CONFLICT","reason":"idempotency_key_reused"}';
    end if;
    return jsonb_build_object('subject', p_subject, 'result', jsonb_build_object('busy', true), 'replayed', false);
  end if;
  if p_ids is null then
    select coalesce(jsonb_agg(to_jsonb(t) order by t.kind desc), '[]'::jsonb) into v_rows from (
      select distinct on (kind) id, org_id, connection_id, vendor, kind, ciphertext, iv, auth_tag,
             wrapped_data_key, key_id, is_active, expires_at, updated_at
        from "vault".credential
       where org_id = p_org and connection_id = p_connection and is_deleted = false and retired_at is null
         and kind in ('refresh_token', 'access_token')
       order by kind, created_at desc, id desc) t;
  else
    select coalesce(jsonb_agg(to_jsonb(t) order by t.created_at, t.id), '[]'::jsonb) into v_rows from (
      select id, org_id, connection_id, vendor, kind, ciphertext, iv, auth_tag, wrapped_data_key, key_id,
             is_active, expires_at, updated_at, created_at
        from "vault".credential
       where org_id = p_org and connection_id = p_connection and id = any(p_ids)
         and kind in ('refresh_token', 'access_token')) t;
  end if;
  v_found := jsonb_array_length(v_rows);
  -- Never send one provider's token to another's endpoint: refused, and the claim rolls back with the statement.
  if exists (select 1 from jsonb_array_elements(v_rows) r where r->>'vendor' <> p_vendor) then
    raise exception using errcode = 'OT001',
      message = format('the connection''s credentials are not %s''s', p_vendor),
      detail = '{"code":"BAD_REQUEST","reason":"vendor_mismatch"}';
  end if;
  return jsonb_build_object('subject', p_subject, 'replayed', false, 'result', jsonb_build_object(
    'claimed', true, 'rows', v_rows,
    'skipped', case when p_ids is null then 0 else (select count(distinct i) from unnest(p_ids) i) - v_found end));
end $$;`;

/** finish_revocation as this migration creates it. */
export const FINISH_REVOCATION_V1 = `create or replace function "vault".finish_revocation(p_key text, p_subject text, p_result jsonb)
    returns jsonb language sql as $$
  with stored as (
    insert into "vault".processed_command (key, subject, result, created_at)
    values (p_key, p_subject, p_result, now()) on conflict (key) do nothing returning result),
  released as (delete from "vault".revocation_claim where key = p_key returning 1)
  select jsonb_build_object('subject', p_subject, 'replayed', false, 'result',
           coalesce((select result from stored),
                    (select result from "vault".processed_command where key = p_key)))
    from (select count(*) from released) r $$;`;

/**
 * `vault.tokens.revoke` without a transaction held over the provider's HTTP calls (revoke-tokens.handler.ts): a
 * hanging revocation endpoint used to keep a pooled connection and the connection's advisory lock for its whole
 * timeout — ten disconnects of a hanging provider could starve every other vault command. Now one round trip
 * claims the key and reads the tokens (`begin_revocation`), the provider is called with no connection held, and
 * one round trip stores the report (`finish_revocation`). The table was generated from the entity; the functions
 * are written by hand.
 */
export class Migration20261122073137_revocation_claim extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "vault"."revocation_claim" ("key" varchar(200) not null, "org_id" uuid not null, "connection_id" uuid not null, "blocks_refresh" boolean not null, "claimed_until" timestamptz not null, "created_at" timestamptz not null, constraint "revocation_claim_pkey" primary key ("key"));`);
    this.addSql(`create index "revocation_claim_connection_idx" on "vault"."revocation_claim" ("connection_id");`);

    // Shaped for runSqlCommandOnce ({ subject, result, replayed }). The stored report (a replay), or {"busy": true} (another replica holds a live claim of the key), or the
    // claim with the tokens to revoke: the connection's newest refresh and access token (p_ids null), or exactly
    // those of p_ids that are this connection's refresh or access tokens. Under the connection's advisory lock
    // (credential-records.ts lockConnection), so a refresh in flight finishes first and the newest tokens are read.
    this.addSql(BEGIN_REVOCATION_V1);

    // The report under its key, the claim gone. A holder that lost its claim to a takeover and finishes second
    // gets the first report back: every caller of one key sees the same report.
    this.addSql(FINISH_REVOCATION_V1);
  }

  override async down(): Promise<void> {
    this.addSql(`drop function if exists "vault".finish_revocation(text, text, jsonb);`);
    this.addSql(`drop function if exists "vault".begin_revocation(text, text, uuid, uuid, text, uuid[], int);`);
    this.addSql(`drop table if exists "vault"."revocation_claim" cascade;`);
  }
}
