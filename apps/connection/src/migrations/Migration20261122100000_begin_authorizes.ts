import { Migration } from '@mikro-orm/migrations';
import { BEGIN_DISCONNECT_V2 } from './Migration20261122075000_begin_without_instance_lock';

/**
 * begin_disconnect authorizes the caller itself, so the edge sends the lock without looking the connection up
 * first (one NATS round trip and one query less per disconnect): another org's connection is NOT_FOUND, someone
 * else's (or the org's app-level connection) FORBIDDEN unless the edge vouches for settings.edit. `p_actor` null is
 * a command from a saga the edge authorized before sending it (disconnect sagas of definition version 1).
 */
export class Migration20261122100000_begin_authorizes extends Migration {
  override async up(): Promise<void> {
    this.addSql(`drop function "connection".begin_disconnect(text, uuid, uuid, uuid);`);
    this.addSql(`create function "connection".begin_disconnect(p_key text, p_org uuid, p_connection uuid,
    p_saga uuid, p_actor uuid, p_may_manage boolean) returns jsonb language plpgsql as $$
declare
  v_subject constant text := 'connection.connections.begin-disconnect';
  v_replay jsonb;
  v_instance uuid;
  c "connection".integration_connection%rowtype;
  v_result jsonb;
begin
  v_replay := "connection".replay_of(p_key, v_subject, p_org, p_connection);
  if v_replay is not null then return v_replay; end if;
  select * into c from "connection".integration_connection where id = p_connection and org_id = p_org for update;
  if not found then perform "connection".command_error('NOT_FOUND', null, 'connection not found'); end if;
  -- Seed edge case: one's own user-level connection, or anyone's with settings.edit.
  if p_actor is not null and not coalesce(p_may_manage, false)
     and not (c.level = 'user' and c.user_id = p_actor) then
    perform "connection".command_error('FORBIDDEN', 'not_owner',
      'disconnecting another user''s or the organization''s connection needs settings.edit');
  end if;
  v_instance := c.instance_id;
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
end $$;`);
  }

  override async down(): Promise<void> {
    this.addSql(
      `drop function "connection".begin_disconnect(text, uuid, uuid, uuid, uuid, boolean);`,
    );
    this.addSql(BEGIN_DISCONNECT_V2);
  }
}
