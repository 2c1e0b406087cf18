import { Migration } from '@mikro-orm/migrations';
import { reviseSql } from '@otesse/persistence';
import { BEGIN_DISCONNECT_V3 } from './Migration20261122100000_begin_authorizes';
import { COMPLETE_DISCONNECT_V3 } from './Migration20261122103000_witness_without_stray_locks';

const LIVE = `('pending', 'connected', 'disconnecting')`;

/** begin_disconnect as this migration leaves it: version 3 holding the instance for its last live connection. */
export const BEGIN_DISCONNECT_V4 = reviseSql(
  BEGIN_DISCONNECT_V3,
  [
    `  v_result jsonb;
begin`,
    `  v_result jsonb;
  v_others boolean;
  v_error boolean;
begin`,
  ],
  [
    `  if v_replay is not null then return v_replay; end if;
  select * into c`,
    `  if v_replay is not null then return v_replay; end if;
  -- The instance's last live connection takes the instance's row lock first (the usual order: instance, then
  -- connection): creates wait on it, and so does an \`error\` connection's begin (the one other way a connection
  -- becomes live), so nothing of the instance becomes live while it is held.
  select exists (select 1 from "connection".integration_connection o
                  where o.instance_id = x.instance_id and o.id <> x.id and o.status in ${LIVE}),
         x.status = 'error'
    into v_others, v_error
    from "connection".integration_connection x where x.id = p_connection and x.org_id = p_org;
  if v_others is false or v_error then perform "connection".lock_instance_of(p_org, p_connection); end if;
  select * into c`,
  ],
  [
    `  v_instance := c.instance_id;
  if c.status = 'disconnecting' then`,
    `  v_instance := c.instance_id;
  if c.status = 'error' and exists (
       select 1 from "connection".integration_instance i
        where i.id = v_instance and i.revoking_saga_id is distinct from p_saga
          and exists (select 1 from "connection".integration_connection h
                       where h.instance_id = i.id and h.disconnect_saga_id = i.revoking_saga_id
                         and h.status = 'disconnecting')) then
    perform "connection".command_error('CONFLICT', 'disconnect_in_progress',
      'this integration is being disconnected: try again shortly');
  end if;
  if c.status = 'disconnecting' then`,
  ],
  [
    `     where id = c.id returning * into c;
  else`,
    `     where id = c.id returning * into c;
    -- Re-checked under the instance's lock, then the instance is held for this saga until its statuses (or its
    -- compensation): step 5 will revoke it, so the references can be marked instance-wide beside it.
    if v_others is false and not exists (select 1 from "connection".integration_connection
                                          where instance_id = c.instance_id and id <> c.id and status in ${LIVE}) then
      update "connection".integration_instance set revoking_saga_id = p_saga where id = c.instance_id;
    end if;
  else`,
  ],
  [
    `  v_result := jsonb_build_object('connection', "connection".connection_json(c),
    'instance', "connection".instance_json(v_instance));`,
    `  v_result := jsonb_build_object('connection', "connection".connection_json(c),
    'instance', "connection".instance_json(v_instance),
    'instanceRevoking', exists (select 1 from "connection".integration_instance
                                 where id = v_instance and revoking_saga_id = p_saga));`,
  ],
);

/** complete_disconnect as this migration leaves it: version 3 lifting the saga's hold on the instance. */
export const COMPLETE_DISCONNECT_V4 = reviseSql(COMPLETE_DISCONNECT_V3, [
  `  else
    update "connection".integration_connection
       set status = 'revoked', revoked_at = now(), status_before_disconnect = null, updated_at = now()
     where id = c.id returning * into c;`,
  `  else
    -- The hold begin-disconnect took for the instance's last connection ends with the statuses.
    update "connection".integration_instance set revoking_saga_id = null
     where id = v_instance and revoking_saga_id = p_saga;
    update "connection".integration_connection
       set status = 'revoked', revoked_at = now(), status_before_disconnect = null, updated_at = now()
     where id = c.id returning * into c;`,
]);

/**
 * The disconnect of an instance's last live connection holds the instance (`revoking_saga_id`) from its lock to
 * its statuses: no connect of any slot starts meanwhile, nor the disconnect of an `error` connection of the
 * instance (CONFLICT `disconnect_in_progress`, as the connection's own slot already answered), so nothing of the
 * instance becomes live and begin-disconnect can tell the saga that step 5 will revoke the instance
 * (`instanceRevoking`), and the saga marks the instance's references beside the statuses instead of after them:
 * one stage fewer for the most common disconnect. The compensation (cancel-disconnect) lifts the hold too.
 */
export class Migration20261122124500_instance_revoking extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `alter table "connection"."integration_instance" add column "revoking_saga_id" uuid null;`,
    );
    this.addSql(BEGIN_DISCONNECT_V4.replace('create function', 'create or replace function'));
    this.addSql(COMPLETE_DISCONNECT_V4);
  }

  override async down(): Promise<void> {
    this.addSql(COMPLETE_DISCONNECT_V3);
    this.addSql(BEGIN_DISCONNECT_V3.replace('create function', 'create or replace function'));
    this.addSql(`alter table "connection"."integration_instance" drop column "revoking_saga_id";`);
  }
}
