import { Migration } from '@mikro-orm/migrations';
import { BEGIN_DISCONNECT_V1 } from './Migration20261122053000_disconnect_functions';

/** begin_disconnect as this migration leaves it (the next version's down() restores it). */
export const BEGIN_DISCONNECT_V2 = `create or replace function "connection".begin_disconnect(p_key text, p_org uuid, p_connection uuid,
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
  select * into c from "connection".integration_connection where id = p_connection and org_id = p_org for update;
  if not found then perform "connection".command_error('NOT_FOUND', null, 'connection not found'); end if;
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
end $$;`;

/**
 * begin_disconnect without the instance's row lock. Connected and disconnecting count alike wherever an
 * instance-level decision reads its connections (complete_disconnect's "does another connection keep the instance",
 * the connect paths), so the semantic lock changes nothing those decisions see and needs only the connection's own
 * row. With it, every disconnect of an instance's connections queued on one row twice (at 32 concurrent
 * disconnects of one instance's users, 7 ms a lock on average); complete_disconnect still takes it, once.
 */
export class Migration20261122075000_begin_without_instance_lock extends Migration {
  override async up(): Promise<void> {
    this.addSql(BEGIN_DISCONNECT_V2);
  }

  override async down(): Promise<void> {
    // As migration disconnect_functions created it.
    this.addSql(BEGIN_DISCONNECT_V1);
  }
}
