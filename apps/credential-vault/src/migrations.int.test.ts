import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDown, migrateUp, openOrm } from '@otesse/persistence';
import { createTestDatabase, type TTestDatabase } from '@otesse/testing';
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
    const inSchema = async () => ({
      relations: (
        await db.query<{ relname: string }>(
          `select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = $1 and c.relname not like 'mikro_orm_migrations%' order by 1`,
          [VAULT_SCHEMA.schema],
        )
      ).map((r) => r.relname),
      functions: (
        await db.query<{ proname: string }>(
          `select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
            where n.nspname = $1 order by 1`,
          [VAULT_SCHEMA.schema],
        )
      ).map((r) => r.proname),
    });
    try {
      expect(await migrateUp(orm, VAULT_SCHEMA.schema)).toHaveLength(migrations.length);
      const up = await inSchema();
      expect(up.functions).toEqual([
        'begin_revocation',
        'destroy_credentials',
        'finish_revocation',
      ]);
      expect(up.relations).toContain('revocation_claim');
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
