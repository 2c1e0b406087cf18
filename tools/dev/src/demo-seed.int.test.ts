import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MikroORM } from '@mikro-orm/postgresql';
import { authenticate, createToken, identityEntities } from '@otesse/identity';
import { openOrm } from '@otesse/persistence';
import { createTestDatabase, REPO_ROOT, type TTestDatabase } from '@otesse/testing';
import { DEMO_PEOPLE, DEMO_TOKEN_LABEL, seedDemo } from './demo-seed';

/** Issue: every npm start added three live demo tokens, none revoked. */
describe('npm start: the demo org and its tokens', () => {
  let db: TTestDatabase;
  let orm: MikroORM;
  const dir = mkdtempSync(join(tmpdir(), 'otesse-demo-'));
  const file = join(dir, 'demo-tokens.json');
  const knex = () => orm.em.getConnection().getKnex();
  const liveDemoTokens = async () =>
    (
      await db.query<{ email: string; n: string }>(
        `select u.email, count(t.id) as n from edge.app_user u
           left join edge.api_token t on t.user_id = u.id and t.revoked_at is null and t.label = $1
          group by u.email order by u.email`,
        [DEMO_TOKEN_LABEL],
      )
    ).map((r) => `${r.email}:${r.n}`);

  beforeAll(async () => {
    db = await createTestDatabase('otesse_demo');
    await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', resolve(REPO_ROOT, 'apps/edge/src/db/migrate.ts')],
      { cwd: REPO_ROOT, env: { ...process.env, DATABASE_URL: db.urlFor('edge') } },
    );
    orm = await openOrm({
      url: db.urlFor('edge'),
      schema: 'edge',
      entities: identityEntities,
      migrations: [],
    });
  });
  afterAll(async () => {
    await orm?.close(true);
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints the same live tokens on every start, and keeps one live demo token per person', async () => {
    const first = await seedDemo(knex(), file);
    expect(first.map((t) => t.email)).toEqual(DEMO_PEOPLE.map((p) => p.email));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const again = await seedDemo(knex(), file);
    expect(again).toEqual(first);
    const expected = DEMO_PEOPLE.map((p) => `${p.email}:1`).sort();
    expect(await liveDemoTokens()).toEqual(expected);
    for (const t of again) expect((await authenticate(knex(), t.token)).email).toBe(t.email);
  });

  it('replaces a kept token that no longer authenticates, and revokes the demo tokens it no longer prints', async () => {
    const before = await seedDemo(knex(), file);
    // The admin's kept token was revoked (token:revoke); the file of the others is gone (a fresh checkout).
    await db.query(
      `update edge.api_token set revoked_at = now() where token_hash = encode(sha256($1::bytea), 'hex')`,
      [before[0]!.token],
    );
    unlinkSync(file);
    const after = await seedDemo(knex(), file);
    for (const [i, t] of after.entries()) {
      expect(t.token).not.toBe(before[i]!.token);
      expect((await authenticate(knex(), t.token)).email).toBe(t.email);
      await expect(authenticate(knex(), before[i]!.token)).rejects.toMatchObject({
        code: 'UNAUTHORIZED',
      });
    }
    expect(await liveDemoTokens()).toEqual(DEMO_PEOPLE.map((p) => `${p.email}:1`).sort());
    // A token the user made for themselves (another label) is left alone.
    const [admin] = await db.query<{ id: string }>(
      `select id from edge.app_user where email = 'admin@demo.otesse.test'`,
    );
    const own = await createToken(knex(), { userId: admin!.id, label: 'ci' });
    expect(await seedDemo(knex(), file)).toEqual(after);
    expect((await authenticate(knex(), own.token)).tokenId).toBe(own.id);
  });
});
