import { Migration } from '@mikro-orm/migrations';
import { INSTANCE_JSON_PLPGSQL } from './Migration20261122123000_instance_json_plpgsql';

/** instance_json with the instance's tenant pin (the TypeScript mapper's twin). */
export const INSTANCE_JSON_V3 = `create or replace function "connection".instance_json(p_id uuid)
  returns jsonb language plpgsql stable as $$
declare
  v_json jsonb;
begin
  select jsonb_build_object(
    'id', i.id, 'orgId', i.org_id, 'vendor', i.vendor, 'status', i.status, 'config', i.config,
    'tenantId', i.tenant_id,
    'health', coalesce(h.status, 'unknown'), 'healthCheckedAt', "connection".iso_ms(h.checked_at),
    'healthChecksEnabled', coalesce(h.checks_enabled, false),
    'createdAt', "connection".iso_ms(i.created_at), 'updatedAt', "connection".iso_ms(i.updated_at))
    into v_json
  from "connection".integration_instance i
  left join "connection".integration_health h on h.instance_id = i.id
  where i.id = p_id
  limit 1;
  return v_json;
end $$;`;

/**
 * Each instance pinned to one provider organization (tenant). The pin is backfilled from the newest connection that
 * was ever connected and named a tenant: where earlier versions let tenants mix, the newest is the one whose data
 * the instance shows now. A SHARE lock on the connections, so none activates between the read and the write.
 */
export class Migration20261124122904_instance_tenant extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "connection"."integration_instance" add column "tenant_id" varchar(300) null;`);
    this.addSql(`lock table "connection"."integration_connection" in share mode;`);
    this.addSql(`update "connection"."integration_instance" i set "tenant_id" = t."tenant_id"
      from (select distinct on ("instance_id") "instance_id", "tenant_id" from "connection"."integration_connection"
             where "tenant_id" is not null and "connected_at" is not null
             order by "instance_id", "connected_at" desc, "created_at" desc) t
     where t."instance_id" = i."id";`);
    this.addSql(INSTANCE_JSON_V3);
  }

  override async down(): Promise<void> {
    this.addSql(INSTANCE_JSON_PLPGSQL);
    this.addSql(`alter table "connection"."integration_instance" drop column "tenant_id";`);
  }

}
