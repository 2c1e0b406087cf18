import { Migration } from '@mikro-orm/migrations';

/**
 * The disconnect saga's step 4 as a function, in one round trip (idempotency check, the connection's advisory
 * lock, the overwrite, the stored count) where the TypeScript transaction took 6. The stored result keeps the
 * shape `runVaultCommandOnce` stored, so older keys replay the same. See `runSqlCommandOnce`.
 */
export class Migration20261122055500_destroy_function extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create or replace function "vault".destroy_credentials(p_key text, p_org uuid, p_connection uuid,
    p_ids uuid[]) returns jsonb language plpgsql as $$
declare
  v_subject constant text := 'vault.credentials.destroy';
  v_prior "vault".processed_command%rowtype;
  v_n int;
  v_result jsonb;
begin
  select * into v_prior from "vault".processed_command where key = p_key;
  if found then
    if v_prior.subject = v_subject and (v_prior.result->>'orgId' <> p_org::text
        or v_prior.result->>'connectionId' <> p_connection::text) then
      raise exception using errcode = 'OT001',
        message = 'this idempotency key was already used for another command',
        detail = '{"code":"CONFLICT","reason":"idempotency_key_reused"}';
    end if;
    return jsonb_build_object('subject', v_prior.subject, 'result', v_prior.result, 'replayed', true);
  end if;
  -- The connection's lock (credential-records.ts lockConnection): no refresh or swap writes meanwhile.
  perform pg_advisory_xact_lock(hashtextextended('vault:connection:' || p_connection::text, 0));
  -- Ciphertext, iv, tag and wrapped data key overwritten with '', then soft-deleted: unrecoverable even from a
  -- copy of the row.
  if p_ids is null then
    update "vault".credential
       set ciphertext = '', iv = '', auth_tag = '', wrapped_data_key = '', is_active = false, is_deleted = true,
           deleted_at = now(), updated_at = now()
     where org_id = p_org and connection_id = p_connection and is_deleted = false;
  else
    update "vault".credential
       set ciphertext = '', iv = '', auth_tag = '', wrapped_data_key = '', is_active = false, is_deleted = true,
           deleted_at = now(), updated_at = now()
     where org_id = p_org and connection_id = p_connection and is_deleted = false and id = any(p_ids);
  end if;
  get diagnostics v_n = row_count;
  v_result := jsonb_build_object('destroyed', v_n, 'orgId', p_org, 'connectionId', p_connection);
  insert into "vault".processed_command (key, subject, result, created_at)
  values (p_key, v_subject, v_result, now());
  return jsonb_build_object('subject', v_subject, 'result', v_result, 'replayed', false);
end $$;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop function if exists "vault".destroy_credentials(text, uuid, uuid, uuid[]);`);
  }
}
