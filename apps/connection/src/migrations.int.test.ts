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
      // Down past begin_without_instance_lock and complete_fast_path: the earlier definitions are back; up again.
      const locksInstance = /lock_instance_of\(p_org, p_connection\)/;
      const body = async (fn: string) =>
        (
          await db.query<{ src: string }>(
            `select p.prosrc as src from pg_proc p join pg_namespace n on n.oid = p.pronamespace
              where n.nspname = $1 and p.proname = $2`,
            [CONNECTION_SCHEMA.schema, fn],
          )
        )[0]!.src;
      expect(await body('begin_disconnect')).not.toMatch(locksInstance);
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
