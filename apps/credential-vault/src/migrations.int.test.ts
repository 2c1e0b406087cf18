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
      // revocation_per_token's down() restores the revocation functions it replaced (they kept their names).
      const readsOutcomes = async () =>
        (
          await db.query<{ proname: string; reads: boolean }>(
            `select p.proname, p.prosrc like '%revocation_outcome%' as reads from pg_proc p
               join pg_namespace n on n.oid = p.pronamespace
              where n.nspname = $1 and p.proname in ('begin_revocation', 'finish_revocation')
              order by 1`,
            [VAULT_SCHEMA.schema],
          )
        ).map((r) => [r.proname, r.reads]);
      expect(await readsOutcomes()).toEqual([
        ['begin_revocation', true],
        ['finish_revocation', true],
      ]);
      expect(await migrateDown(orm, 'Migration20261123092854_idempotency_retention')).toContain(
        'Migration20261123131218_revocation_per_token',
      );
      expect(await readsOutcomes()).toEqual([
        ['begin_revocation', false],
        ['finish_revocation', false],
      ]);
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
