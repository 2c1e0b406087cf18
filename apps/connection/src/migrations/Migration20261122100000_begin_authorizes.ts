import { Migration } from '@mikro-orm/migrations';
import { reviseSql } from '@otesse/persistence';
import { BEGIN_DISCONNECT_V2 } from './Migration20261122075000_begin_without_instance_lock';

const NOT_FOUND = `  if not found then perform "connection".command_error('NOT_FOUND', null, 'connection not found'); end if;
`;

/** begin_disconnect as this migration leaves it: version 2 with the caller's arguments and the check. */
export const BEGIN_DISCONNECT_V3 = reviseSql(
  BEGIN_DISCONNECT_V2,
  [
    `create or replace function "connection".begin_disconnect(p_key text, p_org uuid, p_connection uuid,
    p_saga uuid)`,
    `create function "connection".begin_disconnect(p_key text, p_org uuid, p_connection uuid,
    p_saga uuid, p_actor uuid, p_may_manage boolean)`,
  ],
  [
    NOT_FOUND,
    `${NOT_FOUND}  -- Seed edge case: one's own user-level connection, or anyone's with settings.edit.
  if p_actor is not null and not coalesce(p_may_manage, false)
     and not (c.level = 'user' and c.user_id = p_actor) then
    perform "connection".command_error('FORBIDDEN', 'not_owner',
      'disconnecting another user''s or the organization''s connection needs settings.edit');
  end if;
`,
  ],
);

/**
 * begin_disconnect authorizes the caller itself, so the edge sends the lock without looking the connection up
 * first (one NATS round trip and one query less per disconnect): another org's connection is NOT_FOUND, someone
 * else's (or the org's app-level connection) FORBIDDEN unless the edge vouches for settings.edit. `p_actor` null is
 * a command from a saga the edge authorized before sending it (disconnect sagas of definition version 1).
 */
export class Migration20261122100000_begin_authorizes extends Migration {
  override async up(): Promise<void> {
    this.addSql(`drop function "connection".begin_disconnect(text, uuid, uuid, uuid);`);
    this.addSql(BEGIN_DISCONNECT_V3);
  }

  override async down(): Promise<void> {
    this.addSql(
      `drop function "connection".begin_disconnect(text, uuid, uuid, uuid, uuid, boolean);`,
    );
    this.addSql(BEGIN_DISCONNECT_V2);
  }
}
