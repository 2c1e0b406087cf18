import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDown, migrateUp, openOrm } from '@otesse/persistence';
import { createTestDatabase, schemaObjects, type TTestDatabase } from '@otesse/testing';
import { CONNECTION_SCHEMA, connectionOrmConfig } from './db/orm.config';
import { migrations } from './migrations';

describe('connection migrations (real Postgres)', () => {
  let db: TTestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('migrate down to an empty schema and back up (down() restores each earlier function definition and undoes the first)', async () => {
    const orm = await openOrm(connectionOrmConfig(db.urlFor('connection')));
    const inSchema = () => schemaObjects(db, CONNECTION_SCHEMA.schema);
    try {
      expect(await migrateUp(orm, CONNECTION_SCHEMA.schema)).toHaveLength(migrations.length);
      const up = await inSchema();
      expect(up.functions).toEqual([
        'begin_disconnect',
        'command_error',
        'complete_disconnect',
        'connection_json',
        'instance_json',
        'iso_ms',
        'lock_instance_of',
        'replay_of',
        'store_reply',
      ]);
      // Down past instance_revoking, instance_json_plpgsql, abandoned_outbox, witness_without_stray_locks, begin_authorizes, complete_fast_path and begin_without_instance_lock:
      // the earlier definitions are back (one begin_disconnect each time, its arguments as that version had them);
      // up again.
      const locksInstance = /lock_instance_of\(p_org, p_connection\)/;
      const body = async (fn: string) =>
        (
          await db.query<{ src: string }>(
            `select p.prosrc as src from pg_proc p join pg_namespace n on n.oid = p.pronamespace
              where n.nspname = $1 and p.proname = $2`,
            [CONNECTION_SCHEMA.schema, fn],
          )
        )[0]!.src;
      const args = async () =>
        (
          await db.query<{ args: string }>(
            `select pg_get_function_identity_arguments(p.oid) as args from pg_proc p
               join pg_namespace n on n.oid = p.pronamespace where n.nspname = $1 and p.proname = 'begin_disconnect'`,
            [CONNECTION_SCHEMA.schema],
          )
        ).map((r) => r.args);
      // Only the instance's last live connection (to hold it) and an error connection (to respect the hold) take
      // the instance's lock.
      expect(await body('begin_disconnect')).toMatch(
        /if v_others is false or v_error then perform "connection".lock_instance_of\(p_org, p_connection\)/,
      );
      expect(await body('begin_disconnect')).toMatch(/'FORBIDDEN', 'not_owner'/);
      expect(await args()).toEqual([
        'p_key text, p_org uuid, p_connection uuid, p_saga uuid, p_actor uuid, p_may_manage boolean',
      ]);
      expect(await body('complete_disconnect')).toMatch(/'OT002'/);
      const column = async (table: string, name: string) =>
        (
          await db.query(
            `select 1 from information_schema.columns where table_schema = $1
                and table_name = $2 and column_name = $3`,
            [CONNECTION_SCHEMA.schema, table, name],
          )
        ).length;
      // Down past webhook_last_refusal, then webhook_last_delivery: the last-refusal columns are gone, the last delivery is still there;
      // then that column is gone too.
      const index = async (name: string) =>
        (
          await db.query(`select 1 from pg_indexes where schemaname = $1 and indexname = $2`, [
            CONNECTION_SCHEMA.schema,
            name,
          ])
        ).length;
      // Down past event_outbox: the owed events' table is gone.
      const table = async (name: string) =>
        (
          await db.query(
            `select 1 from information_schema.tables where table_schema = $1 and table_name = $2`,
            [CONNECTION_SCHEMA.schema, name],
          )
        ).length;
      expect(await table('event_outbox')).toBe(1);
      expect(await migrateDown(orm)).toEqual([expect.stringMatching(/_event_outbox$/)]);
      expect(await table('event_outbox')).toBe(0);
      // Down past account_grant_holders: begin_disconnect no longer answers who else holds the account's grant,
      // and the index that answers it is gone.
      expect(await body('begin_disconnect')).toMatch(/'accountGrantInUse'/);
      expect(await index('integration_connection_account_idx')).toBe(1);
      expect(await migrateDown(orm)).toEqual([expect.stringMatching(/_account_grant_holders$/)]);
      expect(await body('begin_disconnect')).not.toMatch(/accountGrantInUse/);
      expect(await body('begin_disconnect')).toMatch(/'instanceRevoking'/);
      expect(await index('integration_connection_account_idx')).toBe(0);
      // Down past retired_credentials: the reconnects' retired credential ids are gone.
      expect(await migrateDown(orm)).toEqual([expect.stringMatching(/_retired_credentials$/)]);
      expect(await column('integration_connection', 'retired_credential_ids')).toBe(0);
      // Down past idempotency_retention: the purge's index of keys that are not a saga's is gone.
      expect(await migrateDown(orm)).toEqual([expect.stringMatching(/_idempotency_retention$/)]);
      expect(
        await db.query(`select 1 from pg_indexes where schemaname = $1 and indexname = $2`, [
          CONNECTION_SCHEMA.schema,
          'processed_command_other_created_idx',
        ]),
      ).toEqual([]);
      expect(await column('webhook_endpoint', 'last_refused_at')).toBe(1);
      await migrateDown(orm);
      expect(await column('webhook_endpoint', 'last_refused_at')).toBe(0);
      expect(await column('webhook_endpoint', 'last_refusal_reason')).toBe(0);
      expect(await column('webhook_endpoint', 'last_delivery_at')).toBe(1);
      await migrateDown(orm);
      expect(await column('webhook_endpoint', 'last_delivery_at')).toBe(0);
      // Down past instance_revoking: begin_disconnect no longer holds the instance, the column is gone.
      const holdColumn = async () =>
        (
          await db.query(
            `select 1 from information_schema.columns where table_schema = $1
                and table_name = 'integration_instance' and column_name = 'revoking_saga_id'`,
            [CONNECTION_SCHEMA.schema],
          )
        ).length;
      expect(await body('begin_disconnect')).toMatch(/revoking_saga_id = p_saga/);
      expect(await body('complete_disconnect')).toMatch(/revoking_saga_id = null/);
      expect(await holdColumn()).toBe(1);
      await migrateDown(orm);
      expect(await body('begin_disconnect')).not.toMatch(/revoking_saga_id/);
      expect(await body('complete_disconnect')).not.toMatch(/revoking_saga_id/);
      expect(await holdColumn()).toBe(0);
      expect(await body('begin_disconnect')).not.toMatch(locksInstance);
      // Down past instance_json_plpgsql: the SQL-language body is back, then up again to compare.
      const language = async (fn: string) =>
        (
          await db.query<{ lang: string }>(
            `select l.lanname as lang from pg_proc p join pg_namespace n on n.oid = p.pronamespace
               join pg_language l on l.oid = p.prolang where n.nspname = $1 and p.proname = $2`,
            [CONNECTION_SCHEMA.schema, fn],
          )
        )[0]!.lang;
      expect(await language('instance_json')).toBe('plpgsql');
      await migrateDown(orm);
      expect(await language('instance_json')).toBe('sql');
      // Down past abandoned_outbox: its columns and indexes are gone, the functions untouched.
      const outbox = async () =>
        (
          await db.query<{ name: string }>(
            `select column_name as name from information_schema.columns
              where table_schema = $1 and table_name = 'integration_connection' and column_name like 'abandoned%'
             union all
             select indexname from pg_indexes where schemaname = $1 and indexname in
               ('integration_connection_pending_idx', 'integration_connection_abandoned_outbox_idx')
             order by 1`,
            [CONNECTION_SCHEMA.schema],
          )
        ).map((r) => r.name);
      expect(await outbox()).toEqual([
        'abandoned_at',
        'abandoned_event_id',
        'abandoned_event_published_at',
        'integration_connection_abandoned_outbox_idx',
        'integration_connection_pending_idx',
      ]);
      await migrateDown(orm);
      expect(await outbox()).toEqual([]);
      expect(await body('complete_disconnect')).toMatch(/'OT002'/);
      await migrateDown(orm);
      expect(await body('complete_disconnect')).not.toMatch(/'OT002'/);
      expect(await body('complete_disconnect')).toMatch(/for share/);
      await migrateDown(orm);
      expect(await args()).toEqual(['p_key text, p_org uuid, p_connection uuid, p_saga uuid']);
      expect(await body('begin_disconnect')).not.toMatch(/FORBIDDEN/);
      await migrateDown(orm);
      await migrateDown(orm);
      expect(await body('begin_disconnect')).toMatch(locksInstance);
      expect(await body('complete_disconnect')).not.toMatch(/for share/);
      await migrateUp(orm, CONNECTION_SCHEMA.schema);
      expect(await body('complete_disconnect')).toMatch(/for share/);
      // One migration at a time, newest first, down to nothing.
      while ((await migrateDown(orm)).length > 0);
      expect(await inSchema()).toEqual({ relations: [], functions: [] });
      expect(await migrateUp(orm, CONNECTION_SCHEMA.schema)).toHaveLength(migrations.length);
      expect(await inSchema()).toEqual(up);
    } finally {
      await orm.close(true);
    }
  });
});
