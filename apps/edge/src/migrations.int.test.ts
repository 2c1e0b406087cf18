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
      // Whose connection each saga of before acts on: a reconnect's input, a disconnect's lock result, or nobody.
      await migrateDown(orm, 'Migration20261124071121_saga_participants');
      const [owner, other] = [randomUUID(), randomUUID()];
      const saga = async (type: string, input: object, firstResult: object | null) => {
        const id = randomUUID();
        await db.query(
          `insert into edge.saga (id, type, subject_key, status, definition_version, org_id, actor_user_id, input,
             created_at, updated_at) values ($1::uuid, $2, $1::text, 'completed', 3, $3, $4, $5, now(), now())`,
          [id, type, org, other, JSON.stringify(input)],
        );
        await db.query(
          `insert into edge.saga_step (id, saga_id, seq, name, kind, status, attempts, idempotency_key,
             effect_possible, result) values ($1, $2::uuid, 0, 'first', 'compensatable', 'succeeded', 1, $2::text || ':first',
             true, $3)`,
          [randomUUID(), id, firstResult === null ? null : JSON.stringify(firstResult)],
        );
        return id;
      };
      const reconnect = await saga('reconnect', { ownerUserId: owner }, {});
      const disconnect = await saga('disconnect', {}, { target: { ownerUserId: owner } });
      const unknown = await saga('disconnect', { ownerUserId: 'not-a-uuid' }, null);
      await migrateUp(orm, EDGE_SCHEMA.schema);
      expect(
        await db.query(`select id, owner_user_id from edge.saga order by owner_user_id, id`),
      ).toEqual(
        expect.arrayContaining([
          { id: reconnect, owner_user_id: owner },
          { id: disconnect, owner_user_id: owner },
          { id: unknown, owner_user_id: null },
        ]),
      );
      await db.query(`delete from edge.saga_step`);
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
