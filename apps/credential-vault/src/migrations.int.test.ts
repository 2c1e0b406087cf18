import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDown, migrateUp, openOrm } from '@otesse/persistence';
import { createTestDatabase, schemaObjects, type TTestDatabase } from '@otesse/testing';
import { VAULT_SCHEMA, vaultOrmConfig } from './db/orm.config';
import { migrations } from './migrations';

describe('credential-vault migrations (real Postgres)', () => {
  let db: TTestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('migrate down to an empty schema and back up (down() undoes the hand-written functions too)', async () => {
    const orm = await openOrm(vaultOrmConfig(db.urlFor('credential-vault')));
    const inSchema = () => schemaObjects(db, VAULT_SCHEMA.schema);
    try {
      expect(await migrateUp(orm, VAULT_SCHEMA.schema)).toHaveLength(migrations.length);
      const up = await inSchema();
      expect(up.functions).toEqual([
        'begin_revocation',
        'destroy_credentials',
        'finish_revocation',
      ]);
      expect(up.relations).toEqual(
        expect.arrayContaining(['revocation_claim', 'closed_connection', 'webhook_secret']),
      );
      // One migration at a time, newest first, down to nothing.
      while ((await migrateDown(orm)).length > 0);
      expect(await inSchema()).toEqual({ relations: [], functions: [] });
      expect(await migrateUp(orm, VAULT_SCHEMA.schema)).toHaveLength(migrations.length);
      expect(await inSchema()).toEqual(up);
    } finally {
      await orm.close(true);
    }
  });
});
