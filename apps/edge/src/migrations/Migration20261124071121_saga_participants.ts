import { Migration } from '@mikro-orm/migrations';

const UUID_RE = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

export class Migration20261124071121_saga_participants extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "edge"."saga" add column "owner_user_id" uuid null;`);
    // Whose connection each saga acts on, as the engine records it from now on: the input's ownerUserId, else the
    // first step result naming target.ownerUserId (a disconnect's lock). Anything not a uuid is left out.
    this.addSql(`update "edge"."saga" s set "owner_user_id" = o.owner::uuid
  from (select x.id, coalesce(
               case when x.input->>'ownerUserId' ~* '${UUID_RE}' then x.input->>'ownerUserId' end,
               (select st.result->'target'->>'ownerUserId' from "edge"."saga_step" st
                 where st.saga_id = x.id and st.result->'target'->>'ownerUserId' ~* '${UUID_RE}'
                 order by st.seq limit 1)) as owner
          from "edge"."saga" x) o
 where o.id = s.id and o.owner is not null;`);
    this.addSql(`create index "saga_org_actor_idx" on "edge"."saga" ("org_id", "actor_user_id", "created_at", "id");`);
    this.addSql(`create index "saga_org_owner_idx" on "edge"."saga" ("org_id", "owner_user_id", "created_at", "id");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "edge"."saga_org_actor_idx";`);
    this.addSql(`drop index "edge"."saga_org_owner_idx";`);
    this.addSql(`alter table "edge"."saga" drop column "owner_user_id";`);
  }

}
