import { Migration } from '@mikro-orm/migrations';
import { reviseSql } from '@otesse/persistence';
import { INSTANCE_JSON_V3 } from './Migration20261124122904_instance_tenant';

/** instance_json with the unlink saga's hold and the last unlink (the TypeScript mapper's twin). */
export const INSTANCE_JSON_V4 = reviseSql(INSTANCE_JSON_V3, [
  `    'tenantId', i.tenant_id,`,
  `    'tenantId', i.tenant_id, 'unlinkInProgress', i.unlink_saga_id is not null,
    'tenantUnlinkedAt', "connection".iso_ms(i.tenant_unlinked_at),`,
]);

/**
 * An instance's unlink from its tenant: the unlink saga's hold on the instance (no connect, no config change meanwhile)
 * and when the pin was last cleared (connections created before it no longer name the instance's site).
 */
export class Migration20261124193321_unlink_tenant extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "connection"."integration_instance" add column "unlink_saga_id" uuid null, add column "tenant_unlinked_at" timestamptz null;`);
    this.addSql(INSTANCE_JSON_V4);
  }

  override async down(): Promise<void> {
    this.addSql(INSTANCE_JSON_V3);
    this.addSql(`alter table "connection"."integration_instance" drop column "unlink_saga_id", drop column "tenant_unlinked_at";`);
  }

}
