import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDown, migrateUp, openOrm } from '@otesse/persistence';
import { createTestDatabase, schemaObjects, type TTestDatabase } from '@otesse/testing';
import { EDGE_SCHEMA, edgeOrmConfig } from './db/orm.config';
import { migrations } from './migrations';

describe('edge migrations (real Postgres)', () => {
  let db: TTestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('keys disconnect sagas per org (and back), then migrates down to an empty schema and up', async () => {
    const orm = await openOrm(edgeOrmConfig(db.urlFor('edge')));
    const inSchema = () => schemaObjects(db, EDGE_SCHEMA.schema);
    const org = randomUUID();
    const connection = randomUUID();
    const keys = async () =>
      (
        await db.query<{ type: string; subject_key: string }>(
          `select type, subject_key from edge.saga order by type`,
        )
      ).map((r) => [r.type, r.subject_key]);
    try {
      expect(await migrateUp(orm, EDGE_SCHEMA.schema)).toHaveLength(migrations.length);
      const up = await inSchema();
      // The record of webhook deliveries taken (replay protection) comes with its purge's index, and goes.
      expect(up.relations).toEqual(
        expect.arrayContaining(['webhook_delivery', 'webhook_delivery_received_at_idx']),
      );
      await migrateDown(orm, 'Migration20261123180052_webhook_delivery');
      expect((await inSchema()).relations.filter((r) => r.startsWith('webhook_delivery'))).toEqual(
        [],
      );
      await migrateUp(orm, EDGE_SCHEMA.schema);
      // A disconnect saga and a reconnect saga as the version before stored them (subject = the connection id).
      await migrateDown(orm, 'Migration20261122101000_disconnect_subject_per_org');
      for (const type of ['disconnect', 'reconnect']) {
        await db.query(
          `insert into edge.saga (id, type, subject_key, status, definition_version, org_id, actor_user_id, input,
             created_at, updated_at) values ($1, $2, $3, 'completed', 1, $4, $5, '{}', now(), now())`,
          [randomUUID(), type, connection, org, randomUUID()],
        );
      }
      await migrateUp(orm, EDGE_SCHEMA.schema);
      expect(await keys()).toEqual([
        ['disconnect', `${org}:${connection}`],
        ['reconnect', connection],
      ]);
      await migrateDown(orm, 'Migration20261122101000_disconnect_subject_per_org');
      expect(await keys()).toEqual([
        ['disconnect', connection],
        ['reconnect', connection],
      ]);
      await migrateUp(orm, EDGE_SCHEMA.schema);
      // Sagas logged before resumes existed read as never resumed.
      expect(
        (await db.query<{ n: number }>(`select resumed_count as n from edge.saga`)).map((r) => r.n),
      ).toEqual([0, 0]);
      await db.query(`delete from edge.saga`);
      // One migration at a time, newest first, down to nothing.
      while ((await migrateDown(orm)).length > 0);
      expect(await inSchema()).toEqual({ relations: [], functions: [] });
      expect(await migrateUp(orm, EDGE_SCHEMA.schema)).toHaveLength(migrations.length);
      expect(await inSchema()).toEqual(up);
    } finally {
      await orm.close(true);
    }
  });
});
