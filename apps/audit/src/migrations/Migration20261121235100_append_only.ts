import { Migration } from '@mikro-orm/migrations';
import { SERVICE_SCHEMAS } from '@otesse/persistence';

// Hand-written (MikroORM does not diff grants or triggers). Runs as the schema owner (otesse_audit_owner):
// the service's own role gets exactly what writing and reading the chain needs, and a trigger refuses every
// UPDATE, DELETE and TRUNCATE of an entry whoever asks (the owner included), until a superuser disables it.
const RUNTIME = `"${SERVICE_SCHEMAS.audit.role}"`;

export class Migration20261121235100_append_only extends Migration {
  override async up(): Promise<void> {
    this.addSql(`revoke all on table "audit"."audit_entry" from public;`);
    this.addSql(`revoke all on table "audit"."chain_head" from public;`);
    this.addSql(`grant select, insert on table "audit"."audit_entry" to ${RUNTIME};`);
    this.addSql(`grant select, insert, update on table "audit"."chain_head" to ${RUNTIME};`);
    // The service's start-up migration check reads the migrations table (and finds nothing pending).
    this.addSql(`grant select on table "audit"."mikro_orm_migrations" to ${RUNTIME};`);
    this.addSql(`create function "audit"."refuse_audit_entry_change"() returns trigger
      language plpgsql as $$
      begin
        raise exception 'audit entries are append-only: % on audit.audit_entry refused', tg_op
          using errcode = 'insufficient_privilege';
      end $$;`);
    this.addSql(`create trigger "audit_entry_append_only" before update or delete on "audit"."audit_entry"
      for each row execute function "audit"."refuse_audit_entry_change"();`);
    this.addSql(`create trigger "audit_entry_no_truncate" before truncate on "audit"."audit_entry"
      for each statement execute function "audit"."refuse_audit_entry_change"();`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop trigger if exists "audit_entry_no_truncate" on "audit"."audit_entry";`);
    this.addSql(`drop trigger if exists "audit_entry_append_only" on "audit"."audit_entry";`);
    this.addSql(`drop function if exists "audit"."refuse_audit_entry_change"();`);
    this.addSql(`revoke select on table "audit"."mikro_orm_migrations" from ${RUNTIME};`);
    this.addSql(`revoke all on table "audit"."chain_head" from ${RUNTIME};`);
    this.addSql(`revoke all on table "audit"."audit_entry" from ${RUNTIME};`);
  }
}
