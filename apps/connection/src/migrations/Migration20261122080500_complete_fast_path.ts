import { Migration } from '@mikro-orm/migrations';
import { COMPLETE_DISCONNECT_V1 } from './Migration20261122053000_disconnect_functions';

/** complete_disconnect as this migration leaves it (the next version's down() restores it). */
export const COMPLETE_DISCONNECT_V2 = `create or replace function "connection".complete_disconnect(p_key text, p_org uuid,
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
  -- Fast path, without the instance's row lock: another user's connection is connected, so this one is not the
  -- last and the instance is left as it is. The witness is share-locked until commit: it cannot begin a
  -- disconnect (or leave \`connected\` any other way) before this revocation is visible, so the connection that
  -- turns out last sees this one revoked.
  select * into c from "connection".integration_connection where id = p_connection and org_id = p_org;
  if found and c.status = 'disconnecting' and c.disconnect_saga_id = p_saga then
    perform 1 from "connection".integration_connection
     where instance_id = c.instance_id and id <> c.id and status = 'connected' limit 1 for share;
    if found then
      update "connection".integration_connection
         set status = 'revoked', revoked_at = now(), status_before_disconnect = null, updated_at = now()
       where id = c.id and status = 'disconnecting' and disconnect_saga_id = p_saga returning * into c;
      if not found then
        -- Completed meanwhile by a duplicate under another key: the locked path below answers it, on a retry
        -- (taking the instance's lock while holding a connection's share lock could deadlock).
        perform "connection".command_error('UNAVAILABLE', 'completed_concurrently',
          'the connection changed while completing its disconnect: retry');
      end if;
      v_inst := "connection".instance_json(c.instance_id);
      v_result := jsonb_build_object('connection', "connection".connection_json(c), 'instance', v_inst,
        'instanceRevoked', false, 'webhooksDisabled', 0, 'healthChecksStopped', false);
      return "connection".store_reply(p_key, v_subject, p_org, p_connection, v_result);
    end if;
  end if;
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
    -- Another connection's fast path in flight (revoking it) is waited for: it is counted as it commits.
    perform 1 from "connection".integration_connection
     where instance_id = v_instance and id <> c.id and status = 'disconnecting' for share;
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

/**
 * complete_disconnect takes the instance's row lock only when this connection may be the instance's last. With
 * another user's connection still connected (share-locked as a witness until commit) the instance is left as it
 * is and only the connection's own row is written: 32 concurrent disconnects of one instance's users used to queue
 * on the instance's row (5.6 ms a lock on average). The locked path now also waits for other connections'
 * revocations in flight before deciding whether the instance keeps a connection.
 */
export class Migration20261122080500_complete_fast_path extends Migration {
  override async up(): Promise<void> {
    this.addSql(COMPLETE_DISCONNECT_V2);
  }

  override async down(): Promise<void> {
    // As migration disconnect_functions created it.
    this.addSql(COMPLETE_DISCONNECT_V1);
  }
}
