import { Migration } from '@mikro-orm/migrations';
import { reviseSql } from '@otesse/persistence';
import { INSTANCE_JSON_V3 } from './Migration20261124122904_instance_tenant';
import { BEGIN_DISCONNECT_V5 } from './Migration20261123175734_account_grant_holders';

/** instance_json with the unlink saga's hold and the last unlink (the TypeScript mapper's twin). */
export const INSTANCE_JSON_V4 = reviseSql(INSTANCE_JSON_V3, [
  `    'tenantId', i.tenant_id,`,
  `    'tenantId', i.tenant_id, 'unlinkInProgress', i.unlink_saga_id is not null,
    'tenantUnlinkedAt', "connection".iso_ms(i.tenant_unlinked_at),`,
]);

/**
 * begin_disconnect as this migration leaves it: the disconnect of an `error` connection (the one way a connection
 * becomes live without a create) is refused while an unlink saga holds its instance, under the instance's row lock
 * that begin takes for an `error` connection and the hold takes too.
 */
export const BEGIN_DISCONNECT_V6 = reviseSql(BEGIN_DISCONNECT_V5, [
  `  if c.status = 'disconnecting' then`,
  `  if c.status = 'error' and exists (
       select 1 from "connection".integration_instance i
        where i.id = v_instance and i.unlink_saga_id is not null) then
    perform "connection".command_error('CONFLICT', 'unlink_in_progress',
      'this integration is being unlinked from its provider organization: try again shortly');
  end if;
  if c.status = 'disconnecting' then`,
]);

/**
 * An instance's unlink from its tenant: the unlink saga's hold on the instance (no connect, no config change meanwhile)
 * and when the pin was last cleared (connections created before it no longer name the instance's site).
 */
export class Migration20261124193321_unlink_tenant extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "connection"."integration_instance" add column "unlink_saga_id" uuid null, add column "tenant_unlinked_at" timestamptz null;`);
    this.addSql(INSTANCE_JSON_V4);
    this.addSql(BEGIN_DISCONNECT_V6.replace('create function', 'create or replace function'));
  }

  override async down(): Promise<void> {
    this.addSql(BEGIN_DISCONNECT_V5.replace('create function', 'create or replace function'));
    this.addSql(INSTANCE_JSON_V3);
    this.addSql(`alter table "connection"."integration_instance" drop column "unlink_saga_id", drop column "tenant_unlinked_at";`);
  }

}
