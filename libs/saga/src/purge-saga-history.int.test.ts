import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { TTestDatabase } from '@otesse/testing';
import { purgeSagaHistory } from './purge-saga-history';
import { openSagaLogDatabase } from './test/saga-log-database';

const ORG = '00000000-0000-4000-8000-000000000001';
const ACTOR = '00000000-0000-4000-8000-000000000002';
const DAY = 86_400_000;

describe('purgeSagaHistory (real Postgres)', () => {
  let db: TTestDatabase;
  let orm: MikroORM;

  beforeAll(async () => {
    ({ db, orm } = await openSagaLogDatabase());
  });
  afterAll(async () => {
    await orm?.close(true);
    await db?.drop();
  });

  /** `count` sagas that ended `endedMsAgo`, each with two steps; `released`: the services forgot their records. */
  const addSagas = async (
    status: 'completed' | 'compensated' | 'failed',
    endedMsAgo: number,
    released: boolean,
    count = 1,
  ): Promise<string[]> => {
    const rows = await db.query<{ id: string }>(
      `insert into edge.saga (id, type, subject_key, status, definition_version, org_id, actor_user_id, input,
                              created_at, updated_at, completed_at, records_released_at)
       select gen_random_uuid(), 'test', $1 || g, $2, 1, $3, $4, '{}',
              now() - $5 * interval '1 millisecond', now(), now() - $5 * interval '1 millisecond',
              case when $6 then now() end
         from generate_series(1, $7::int) g
       returning id`,
      [randomUUID(), status, ORG, ACTOR, endedMsAgo, released, count],
    );
    await db.query(
      `insert into edge.saga_step (id, saga_id, seq, name, kind, status, attempts, idempotency_key, effect_possible)
       select gen_random_uuid(), s.id, x.seq, x.name, 'compensatable', 'succeeded', 1, s.id || ':' || x.name, true
         from unnest($1::uuid[]) s(id), (values (0, 'a'), (1, 'b')) x(seq, name)`,
      [rows.map((r) => r.id)],
    );
    return rows.map((r) => r.id);
  };
  const remaining = async (ids: string[]) => {
    const [row] = await db.query<{ sagas: number; steps: number }>(
      `select (select count(*) from edge.saga where id = any($1::uuid[]))::int as sagas,
              (select count(*) from edge.saga_step where saga_id = any($1::uuid[]))::int as steps`,
      [ids],
    );
    return row;
  };

  /** A purge with a retention of a week; `stopped`: the edge is stopping. */
  const purge = (stopped?: () => boolean) =>
    purgeSagaHistory(orm.em.getConnection().getKnex(), {
      schema: 'edge',
      retentionMs: 7 * DAY,
      ...(stopped ? { stopped } : {}),
    });

  it('deletes released sagas that ended before the retention, with their steps, and nothing else', async () => {
    const completed = await addSagas('completed', 10 * DAY, true);
    const compensated = await addSagas('compensated', 10 * DAY, true);
    // Still named by records in the services, a stopped one that may be resumed, one within the retention.
    const unreleased = await addSagas('completed', 10 * DAY, false);
    const stopped = await addSagas('failed', 10 * DAY, false);
    const recent = await addSagas('completed', DAY, true);

    const deleted = await purge();

    expect(deleted).toBe(2);
    expect(await remaining([...completed, ...compensated])).toEqual({ sagas: 0, steps: 0 });
    for (const kept of [unreleased, stopped, recent])
      expect(await remaining(kept)).toEqual({ sagas: 1, steps: 2 });
  });

  it('goes on in rounds until none is due', async () => {
    const old = await addSagas('completed', 30 * DAY, true, 1_203);
    const deleted = await purge();
    expect(deleted).toBe(1_203);
    expect(await remaining(old)).toEqual({ sagas: 0, steps: 0 });
  });

  it('a stopping edge ends after the round in progress', async () => {
    const old = await addSagas('completed', 30 * DAY, true, 600);
    const deleted = await purge(() => true);
    expect(deleted).toBe(500);
    expect((await remaining(old))?.sagas).toBe(100);
  });
});
