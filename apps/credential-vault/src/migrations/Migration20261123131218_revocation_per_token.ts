import { Migration } from '@mikro-orm/migrations';
import { BEGIN_REVOCATION_V1, FINISH_REVOCATION_V1 } from './Migration20261122073137_revocation_claim';

/**
 * Revocation tracked per token. A disconnect that came between a reconnect's swap (which retires the old tokens)
 * and that reconnect's revocation of them (a later step: slow, retried, or stopped) revoked only the current
 * tokens, then destroyed every row: the previous authorization stayed alive at the provider (ServiceNow's refresh
 * token ~100 days). Now each token records its last revocation's outcome (`finish_revocation`, from the report's
 * `outcomes`), a disconnect's revocation (`begin_revocation` without ids) also takes the retired tokens not revoked
 * yet, and a revocation by id is given destroyed and already revoked rows too, to report them from their record
 * instead of calling the provider again. The columns were generated from the entity; the functions by hand.
 */
export class Migration20261123131218_revocation_per_token extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "vault"."credential" add column "revocation_outcome" varchar(20) null, add column "revocation_attempted_at" timestamptz null;`);

    // As in migration revocation_claim, plus the retired tokens not revoked yet (no ids) and each row's
    // is_deleted / revocation_outcome (what the handler reports without a call).
    this.addSql(`create or replace function "vault".begin_revocation(p_key text, p_subject text, p_org uuid,
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
    -- The newest current token of each kind, and every retired one not revoked yet: a reconnect retires the old
    -- authorization's tokens and revokes them in a later step, which may not have run (stopped, slow, retried);
    -- the destruction that follows this revocation wipes them all.
    select coalesce(jsonb_agg(to_jsonb(t) order by t.kind desc, t.retired_at nulls first, t.created_at desc, t.id),
                    '[]'::jsonb) into v_rows from (
      select * from (
        select distinct on (kind) id, org_id, connection_id, vendor, kind, ciphertext, iv, auth_tag,
               wrapped_data_key, key_id, is_active, expires_at, updated_at, created_at, retired_at, is_deleted,
               revocation_outcome
          from "vault".credential
         where org_id = p_org and connection_id = p_connection and is_deleted = false and retired_at is null
           and kind in ('refresh_token', 'access_token')
         order by kind, created_at desc, id desc) cur
      union all
      select id, org_id, connection_id, vendor, kind, ciphertext, iv, auth_tag, wrapped_data_key, key_id,
             is_active, expires_at, updated_at, created_at, retired_at, is_deleted, revocation_outcome
        from "vault".credential
       where org_id = p_org and connection_id = p_connection and is_deleted = false and retired_at is not null
         and revocation_outcome is distinct from 'revoked'
         and kind in ('refresh_token', 'access_token')) t;
  else
    -- Destroyed and already revoked ones too: the handler reports them from their recorded outcome.
    select coalesce(jsonb_agg(to_jsonb(t) order by t.created_at, t.id), '[]'::jsonb) into v_rows from (
      select id, org_id, connection_id, vendor, kind, ciphertext, iv, auth_tag, wrapped_data_key, key_id,
             is_active, expires_at, updated_at, created_at, retired_at, is_deleted, revocation_outcome
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
end $$;`);

    // As in migration revocation_claim, plus each token's outcome recorded (never taken back once 'revoked').
    this.addSql(`create or replace function "vault".finish_revocation(p_key text, p_subject text, p_result jsonb)
    returns jsonb language sql as $$
  with marked as (
    update "vault".credential c
       set revocation_outcome = case when c.revocation_outcome = 'revoked' then 'revoked' else o.outcome end,
           revocation_attempted_at = now()
      from jsonb_to_recordset(coalesce(p_result->'outcomes', '[]'::jsonb)) as o(id uuid, outcome text)
     where c.id = o.id and c.org_id = (p_result->>'orgId')::uuid
       and c.connection_id = (p_result->>'connectionId')::uuid
    returning 1),
  stored as (
    insert into "vault".processed_command (key, subject, result, created_at)
    values (p_key, p_subject, p_result, now()) on conflict (key) do nothing returning result),
  released as (delete from "vault".revocation_claim where key = p_key returning 1)
  select jsonb_build_object('subject', p_subject, 'replayed', false, 'result',
           coalesce((select result from stored),
                    (select result from "vault".processed_command where key = p_key)))
    from (select count(*) from released) r, (select count(*) from marked) m $$;`);
  }

  override async down(): Promise<void> {
    // The functions as migration revocation_claim created them.
    this.addSql(BEGIN_REVOCATION_V1);
    this.addSql(FINISH_REVOCATION_V1);
    this.addSql(`alter table "vault"."credential" drop column "revocation_outcome", drop column "revocation_attempted_at";`);
  }
}
