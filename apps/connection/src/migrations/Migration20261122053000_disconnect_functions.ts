import { Migration } from '@mikro-orm/migrations';

/** instance_json as this migration creates it (a later migration's down() restores exactly this). */
export const INSTANCE_JSON_V1 = `create or replace function "connection".instance_json(p_id uuid)
  returns jsonb language sql stable as $$
  select jsonb_build_object(
    'id', i.id, 'orgId', i.org_id, 'vendor', i.vendor, 'status', i.status, 'config', i.config,
    'health', coalesce(h.status, 'unknown'), 'healthCheckedAt', "connection".iso_ms(h.checked_at),
    'healthChecksEnabled', coalesce(h.checks_enabled, false),
    'createdAt', "connection".iso_ms(i.created_at), 'updatedAt', "connection".iso_ms(i.updated_at))
  from "connection".integration_instance i
  left join "connection".integration_health h on h.instance_id = i.id
  where i.id = p_id
  limit 1 $$;`;

/** As this migration creates it; a later migration's down() restores exactly this. */
export const COMPLETE_DISCONNECT_V1 = `create or replace function "connection".complete_disconnect(p_key text, p_org uuid,
    p_connection uuid, p_saga uuid) returns jsonb language plpgsql as $$
declare
  v_subject constant text := 'connection.connections.complete-disconnect';
  v_replay jsonb;
  v_instance uuid;
  i "connection".integration_instance%rowtype;
  c "connection".integration_connection%rowtype;
  v_kept boolean;
  v_pending boolean;
  v_webhooks int := 0;
  v_result jsonb;
  v_inst jsonb;
begin
  v_replay := "connection".replay_of(p_key, v_subject, p_org, p_connection);
  if v_replay is not null then return v_replay; end if;
  i := "connection".lock_instance_of(p_org, p_connection);
  v_instance := i.id;
  select * into c from "connection".integration_connection where id = p_connection and org_id = p_org for update;
  if c.status = 'revoked' and c.disconnect_saga_id = p_saga then
    -- Done by this saga already (under another key): the state again, changing nothing.
    v_inst := "connection".instance_json(v_instance);
    v_result := jsonb_build_object('connection', "connection".connection_json(c), 'instance', v_inst,
      'instanceRevoked', i.status = 'revoked' or i.previous_status is not distinct from 'revoked',
      'webhooksDisabled', 0, 'healthChecksStopped', not (v_inst->>'healthChecksEnabled')::boolean);
  elsif c.status = 'disconnecting' and c.disconnect_saga_id is distinct from p_saga then
    perform "connection".command_error('CONFLICT', 'already_disconnecting',
      'another disconnect of this connection is in progress');
  elsif c.status <> 'disconnecting' then
    perform "connection".command_error('CONFLICT', 'not_disconnecting',
      format('connection is %s, not disconnecting', c.status), jsonb_build_object('status', c.status));
  else
    update "connection".integration_connection
       set status = 'revoked', revoked_at = now(), status_before_disconnect = null, updated_at = now()
     where id = c.id returning * into c;
    select coalesce(bool_or(status <> 'pending'), false), count(*) > 0 into v_kept, v_pending
      from "connection".integration_connection
     where instance_id = v_instance and status in ('pending', 'connected', 'disconnecting') and id <> c.id;
    if not v_kept then
      -- The instance revoked (or pending, remembering revoked, while a connect is mid-OAuth), its webhook
      -- endpoints disabled, its health unknown with checks stopped.
      update "connection".integration_instance
         set status = case when v_pending then 'pending' else 'revoked' end,
             previous_status = case when v_pending then 'revoked' else null end, updated_at = now()
       where id = v_instance;
      update "connection".integration_health
         set status = 'unknown', checks_enabled = false, checked_at = null, next_check_at = null,
             detail = 'disconnected', updated_at = now()
       where instance_id = v_instance;
      update "connection".webhook_endpoint set status = 'disabled', updated_at = now()
       where instance_id = v_instance and status = 'enabled';
      get diagnostics v_webhooks = row_count;
    end if;
    v_result := jsonb_build_object('connection', "connection".connection_json(c),
      'instance', "connection".instance_json(v_instance), 'instanceRevoked', not v_kept,
      'webhooksDisabled', v_webhooks, 'healthChecksStopped', not v_kept);
  end if;
  return "connection".store_reply(p_key, v_subject, p_org, p_connection, v_result);
end $$;`;

/** As this migration creates it; a later migration's down() restores exactly this. */
export const BEGIN_DISCONNECT_V1 = `create or replace function "connection".begin_disconnect(p_key text, p_org uuid, p_connection uuid,
    p_saga uuid) returns jsonb language plpgsql as $$
declare
  v_subject constant text := 'connection.connections.begin-disconnect';
  v_replay jsonb;
  v_instance uuid;
  c "connection".integration_connection%rowtype;
  v_result jsonb;
begin
  v_replay := "connection".replay_of(p_key, v_subject, p_org, p_connection);
  if v_replay is not null then return v_replay; end if;
  v_instance := ("connection".lock_instance_of(p_org, p_connection)).id;
  select * into c from "connection".integration_connection where id = p_connection and org_id = p_org for update;
  if c.status = 'disconnecting' then
    if c.disconnect_saga_id is distinct from p_saga then
      perform "connection".command_error('CONFLICT', 'already_disconnecting',
        'another disconnect of this connection is in progress');
    end if;
  elsif c.lock_saga_id is not null then
    perform "connection".command_error('CONFLICT', 'locked',
      format('a %s of this connection is in progress', coalesce(c.lock_purpose, 'reconnect')),
      jsonb_build_object('purpose', c.lock_purpose));
  elsif c.status in ('connected', 'error') then
    update "connection".integration_connection
       set status = 'disconnecting', status_before_disconnect = c.status, disconnect_saga_id = p_saga,
           updated_at = now()
     where id = c.id returning * into c;
  else
    perform "connection".command_error('CONFLICT', 'not_connected',
      format('connection is %s: nothing to disconnect', c.status), jsonb_build_object('status', c.status));
  end if;
  v_result := jsonb_build_object('connection', "connection".connection_json(c),
    'instance', "connection".instance_json(v_instance));
  return "connection".store_reply(p_key, v_subject, p_org, p_connection, v_result);
end $$;`;

/**
 * The disconnect saga's two connection commands as functions: each runs in one round trip (idempotency check,
 * row locks in the usual order — instance, then connection —, effect, stored reply), where the same transaction
 * driven from TypeScript took 8–9. The replies have exactly the shape `toConnection` / `toInstance` give, so
 * replies stored before this migration replay the same. Expected failures raise SQLSTATE OT001 with a JSON
 * detail `{ code, reason, details }` (see `runSqlCommandOnce`).
 */
export class Migration20261122053000_disconnect_functions extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create or replace function "connection".iso_ms(t timestamptz) returns text
  language sql stable as $$ select to_char(t at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;`);

    this.addSql(`create or replace function "connection".connection_json(c "connection".integration_connection)
  returns jsonb language sql stable as $$
  select jsonb_build_object(
    'id', c.id, 'orgId', c.org_id, 'instanceId', c.instance_id, 'vendor', c.vendor, 'level', c.level,
    'userId', c.user_id, 'status', c.status, 'externalAccountId', c.external_account_id,
    'tenantId', c.tenant_id, 'refreshTokenExpired', c.refresh_token_expired, 'lockedFor', c.lock_purpose,
    'details', c.details, 'connectedAt', "connection".iso_ms(c.connected_at),
    'revokedAt', "connection".iso_ms(c.revoked_at), 'createdAt', "connection".iso_ms(c.created_at),
    'updatedAt', "connection".iso_ms(c.updated_at)) $$;`);

    this.addSql(INSTANCE_JSON_V1);

    this.addSql(`create or replace function "connection".command_error(p_code text, p_reason text, p_message text,
    p_details jsonb default null) returns void language plpgsql as $$
begin
  raise exception using errcode = 'OT001', message = p_message,
    detail = jsonb_strip_nulls(jsonb_build_object('code', p_code, 'reason', p_reason, 'details', p_details))::text;
end $$;`);

    // A command already carried out under this key: its stored reply (bound to its org and connection).
    this.addSql(`create or replace function "connection".replay_of(p_key text, p_subject text, p_org uuid,
    p_connection uuid) returns jsonb language plpgsql as $$
declare
  v_prior "connection".processed_command%rowtype;
begin
  select * into v_prior from "connection".processed_command where key = p_key;
  if not found then return null; end if;
  if v_prior.subject = p_subject and (v_prior.result->>'orgId' <> p_org::text
      or v_prior.result->>'connectionId' <> p_connection::text) then
    perform "connection".command_error('CONFLICT', 'idempotency_key_reused',
      'this idempotency key was already used for another command');
  end if;
  return jsonb_build_object('subject', v_prior.subject, 'result', v_prior.result->'reply', 'replayed', true);
end $$;`);

    // replay_of's twin: the reply stored under its key (bound to its org and connection), answered as done.
    this.addSql(`create or replace function "connection".store_reply(p_key text, p_subject text, p_org uuid,
    p_connection uuid, p_reply jsonb) returns jsonb language plpgsql as $$
begin
  insert into "connection".processed_command (key, subject, result, created_at)
  values (p_key, p_subject,
    jsonb_build_object('orgId', p_org, 'connectionId', p_connection, 'reply', p_reply), now());
  return jsonb_build_object('subject', p_subject, 'result', p_reply, 'replayed', false);
end $$;`);

    // The instance's row lock, found through the connection: every path that changes an instance's connections
    // takes it first. NOT_FOUND for a missing connection and another org's alike.
    this.addSql(`create or replace function "connection".lock_instance_of(p_org uuid, p_connection uuid)
    returns "connection".integration_instance language plpgsql as $$
declare
  i "connection".integration_instance%rowtype;
begin
  select * into i from "connection".integration_instance
   where id = (select instance_id from "connection".integration_connection
                where id = p_connection and org_id = p_org)
     for update;
  if not found then perform "connection".command_error('NOT_FOUND', null, 'connection not found'); end if;
  return i;
end $$;`);

    // Step 1, the semantic lock (begin-disconnect.handler.ts says what each branch means).
    this.addSql(BEGIN_DISCONNECT_V1);

    // Step 5, the statuses (complete-disconnect.handler.ts says what each branch means).
    this.addSql(COMPLETE_DISCONNECT_V1);
  }

  override async down(): Promise<void> {
    this.addSql(`drop function if exists "connection".complete_disconnect(text, uuid, uuid, uuid);`);
    this.addSql(`drop function if exists "connection".begin_disconnect(text, uuid, uuid, uuid);`);
    this.addSql(`drop function if exists "connection".lock_instance_of(uuid, uuid);`);
    this.addSql(`drop function if exists "connection".store_reply(text, text, uuid, uuid, jsonb);`);
    this.addSql(`drop function if exists "connection".replay_of(text, text, uuid, uuid);`);
    this.addSql(`drop function if exists "connection".command_error(text, text, text, jsonb);`);
    this.addSql(`drop function if exists "connection".instance_json(uuid);`);
    this.addSql(
      `drop function if exists "connection".connection_json("connection".integration_connection);`,
    );
    this.addSql(`drop function if exists "connection".iso_ms(timestamptz);`);
  }
}
