import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '@otesse/identity';
import { REPO_ROOT } from '@otesse/testing';
import { startHarness, trpcErrorOf, type THarness, type TSeededUser } from '../test/e2e-harness';

const run = promisify(execFile);

describe('API tokens record their last use (edge as a process, real Postgres/HTTP, the admin CLI)', () => {
  let h: THarness;

  /** The row's value as text (microseconds: a second write of now() would change it) and as the driver reads it. */
  const lastUsed = async (who: TSeededUser) => {
    const [row] = await h.db.query<{ id: string; text: string | null; at: Date | null }>(
      'select id, last_used_at::text as text, last_used_at as at from edge.api_token where token_hash = $1',
      [hashToken(who.token)],
    );
    return row!;
  };
  /** The write is off the call's path: wait for it to land. */
  const written = async (who: TSeededUser) => {
    await expect.poll(async () => (await lastUsed(who)).text, { timeout: 10_000 }).not.toBeNull();
    return lastUsed(who);
  };
  const tokenList = async (email: string) => {
    const { stdout } = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        resolve(REPO_ROOT, 'tools/cli/src/main.ts'),
        'token:list',
        '--email',
        email,
      ],
      { cwd: REPO_ROOT, env: { ...process.env, DATABASE_URL: h.db.urlFor('edge') } },
    );
    return stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; lastUsedAt: string | null });
  };

  beforeAll(async () => {
    // Only the edge answers me.get: the token check needs no other service.
    h = await startHarness({ services: ['edge'] });
  });
  afterAll(async () => {
    await h?.close();
  });

  it("sets last_used_at to the database's now() on first use, once per interval, never for a revoked token; the CLI lists it", async () => {
    expect((await lastUsed(h.admin)).text).toBeNull();
    const [before] = await h.db.query<{ now: Date }>('select now() as now');
    expect((await h.admin.client.me.get.query()).email).toBe('admin@acme.test');
    const first = await written(h.admin);
    expect(first.at!.getTime()).toBeGreaterThanOrEqual(before!.now.getTime());

    // More calls within the interval, two of them in one batch.
    await h.admin.client.me.get.query();
    await Promise.all([h.admin.client.me.get.query(), h.admin.client.me.get.query()]);

    // A revoked token's refused call writes nothing.
    await h.db.query('update edge.api_token set revoked_at = now() where token_hash = $1', [
      hashToken(h.member.token),
    ]);
    expect((await trpcErrorOf(h.member.client.me.get.query())).code).toBe('UNAUTHORIZED');

    // Another token's first write, started after all of those calls were answered, has landed: had any of them
    // started a write of its own, it would have landed too.
    await h.viewer.client.me.get.query();
    await written(h.viewer);
    expect((await lastUsed(h.admin)).text).toBe(first.text);
    expect((await lastUsed(h.member)).text).toBeNull();

    // The operator's list shows it (and null for a token never used).
    const admin = await tokenList('admin@acme.test');
    expect(admin).toEqual([
      expect.objectContaining({ id: first.id, lastUsedAt: first.at!.toISOString() }),
    ]);
    expect(await tokenList('member@acme.test')).toEqual([
      expect.objectContaining({ lastUsedAt: null }),
    ]);
  });
});
