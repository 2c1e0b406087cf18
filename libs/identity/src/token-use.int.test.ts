import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Knex, MikroORM } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openOrm } from '@otesse/persistence';
import { createTestDatabase, REPO_ROOT, seedOrg, type TTestDatabase } from '@otesse/testing';
import * as identity from './index';
import { recordTokenUse, TokenUseRecorder } from './token-use';

const run = promisify(execFile);

/** Recording a token's use against the edge's real schema (its migrations), with a clock the test moves. */
describe('API token last use', () => {
  let db: TTestDatabase;
  let orm: MikroORM;
  let knex: Knex;
  let userId: string;

  const lastUsed = async (tokenId: string): Promise<string | null> => {
    const [row] = await db.query<{ at: string | null }>(
      // As text: microseconds, so a second write of now() cannot go unnoticed.
      'select last_used_at::text as at from edge.api_token where id = $1',
      [tokenId],
    );
    return row!.at;
  };
  const newToken = async () => (await identity.createToken(knex, { userId })).id;

  beforeAll(async () => {
    db = await createTestDatabase();
    await run(
      process.execPath,
      ['--import', 'tsx', resolve(REPO_ROOT, 'apps/edge/src/db/migrate.ts')],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, DATABASE_URL: db.urlFor('edge') },
      },
    );
    const org = await seedOrg(identity, db, {
      name: 'Acme',
      users: [{ email: 'ada@acme.test', role: 'admin' }],
    });
    userId = org.users[0].id;
    orm = await openOrm({
      url: db.urlFor('edge'),
      schema: 'edge',
      entities: identity.identityEntities,
      migrations: [],
    });
    knex = orm.em.getConnection().getKnex();
  });
  afterAll(async () => {
    await orm?.close(true);
    await db?.drop();
  });

  it("writes the database's now() once per interval; later uses in the interval cost no write", async () => {
    let clock = 1_000_000;
    const errors: unknown[] = [];
    const recorder = new TokenUseRecorder({
      knex: () => knex,
      onError: (e) => errors.push(e),
      intervalMs: 60_000,
      now: () => clock,
    });
    const tokenId = await newToken();
    expect(await lastUsed(tokenId)).toBeNull();

    const [before] = await db.query<{ now: string }>('select now()::text as now');
    await recorder.record(tokenId);
    const first = await lastUsed(tokenId);
    expect(first).not.toBeNull();
    expect(new Date(first!).getTime()).toBeGreaterThanOrEqual(new Date(before!.now).getTime());
    expect(listed(await identity.listApiTokens(knex, userId), tokenId)).toBe(
      new Date(first!).toISOString(),
    );

    // Backdated, so only the recorder's own memory can hold a second write back within the interval.
    await db.query(
      `update edge.api_token set last_used_at = now() - interval '2 minutes' where id = $1`,
      [tokenId],
    );
    const backdated = await lastUsed(tokenId);
    clock += 59_000;
    expect(recorder.record(tokenId)).toBeUndefined();
    expect(await lastUsed(tokenId)).toBe(backdated);

    clock += 1_000;
    await recorder.record(tokenId);
    const next = await lastUsed(tokenId);
    expect(new Date(next!).getTime()).toBeGreaterThan(new Date(backdated!).getTime());
    expect(errors).toEqual([]);
  });

  it('another replica does not write again within the interval, and a revoked token is never written', async () => {
    const tokenId = await newToken();
    expect(await recordTokenUse(knex, tokenId)).toBe(true);
    const first = await lastUsed(tokenId);
    // A second edge (its own memory empty) uses the same token: the row's guard holds it back.
    const otherReplica = new TokenUseRecorder({ knex: () => knex, onError: () => undefined });
    await otherReplica.record(tokenId);
    expect(await lastUsed(tokenId)).toBe(first);

    // Revoked after its check but before the write: the write does nothing.
    const revoked = await newToken();
    expect(await identity.revokeApiToken(knex, revoked)).toBe(true);
    expect(await recordTokenUse(knex, revoked)).toBe(false);
    expect(await lastUsed(revoked)).toBeNull();
    expect(listed(await identity.listApiTokens(knex, userId), revoked)).toBeNull();
  });

  it('reports a failed write to onError without rejecting, and tries again only in the next interval', async () => {
    let clock = 0;
    const errors: string[] = [];
    const broken = {} as Knex; // no pool: the write fails
    const recorder = new TokenUseRecorder({
      knex: () => broken,
      onError: (e, tokenId) => errors.push(`${tokenId}: ${(e as Error).name}`),
      now: () => clock,
    });
    const tokenId = await newToken();
    await expect(recorder.record(tokenId)).resolves.toBeUndefined();
    expect(errors).toEqual([`${tokenId}: TypeError`]);
    expect(recorder.record(tokenId)).toBeUndefined();
    clock += 60_000;
    await recorder.record(tokenId);
    expect(errors).toHaveLength(2);
  });
});

function listed(tokens: identity.TApiTokenSummary[], id: string): string | null | undefined {
  return tokens.find((t) => t.id === id)?.lastUsedAt;
}
