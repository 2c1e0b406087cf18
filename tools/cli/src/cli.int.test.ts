import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate, identityEntities, recordTokenUse } from '@otesse/identity';
import { openOrm } from '@otesse/persistence';
import { createTestDatabase, REPO_ROOT, type TTestDatabase } from '@otesse/testing';

const run = promisify(execFile);

/** The admin CLI as an operator runs it: a separate process against the edge's schema. */
describe('admin CLI', () => {
  let db: TTestDatabase;
  const cli = async (args: string[], env: Record<string, string> = {}) => {
    try {
      const r = await run(
        process.execPath,
        ['--import', 'tsx', resolve(REPO_ROOT, 'tools/cli/src/main.ts'), ...args],
        {
          cwd: REPO_ROOT,
          env: { ...process.env, DATABASE_URL: db.urlFor('edge'), ...env },
        },
      );
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const err = e as { code: number; stdout: string; stderr: string };
      return { code: err.code, stdout: err.stdout, stderr: err.stderr };
    }
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    // The edge migrates its schema on start; its migrate script does the same for the CLI's tables.
    await run(
      process.execPath,
      ['--import', 'tsx', resolve(REPO_ROOT, 'apps/edge/src/db/migrate.ts')],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, DATABASE_URL: db.urlFor('edge') },
      },
    );
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('creates an org, a user and a token; token:create prints only the token', async () => {
    const org = await cli(['org:create', '--name', 'Acme']);
    expect(org.code).toBe(0);
    expect(org.stdout.trim()).toMatch(/^[0-9a-f-]{36}$/);
    const user = await cli([
      'user:create',
      '--org',
      'Acme',
      '--email',
      'ada@acme.test',
      '--role',
      'admin',
    ]);
    expect(user.code).toBe(0);
    const token = await cli(['token:create', '--email', 'ada@acme.test']);
    expect(token.code).toBe(0);
    expect(token.stdout).toMatch(/^otk_[A-Za-z0-9_-]{43}\n$/);
    const [row] = await db.query<{ permissions: string[]; hashes: string }>(
      `select u.permissions, (select count(*) from edge.api_token t where t.user_id = u.id) as hashes from edge.app_user u where email = 'ada@acme.test'`,
    );
    expect(row).toEqual({ permissions: ['settings.view', 'settings.edit'], hashes: '1' });
    // Stored hashed: the token itself is nowhere in the table.
    const stored = await db.query<{ row: string }>(
      'select row_to_json(t)::text as row from edge.api_token t',
    );
    expect(stored.every((r) => !r.row.includes(token.stdout.trim()))).toBe(true);
  });

  it("lists a user's tokens without revealing them, and revokes one: it no longer authenticates", async () => {
    const first = (
      await cli(['token:create', '--email', 'ada@acme.test', '--label', 'ci'])
    ).stdout.trim();
    const second = (await cli(['token:create', '--email', 'ada@acme.test'])).stdout.trim();
    const listed = await cli(['token:list', '--email', 'ada@acme.test']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toContain(first);
    expect(listed.stdout).not.toContain(second);
    const tokens = listed.stdout
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            id: string;
            prefix: string;
            label: string;
            lastUsedAt: string | null;
            revokedAt: null;
          },
      );
    const ci = tokens.find((t) => t.label === 'ci')!;
    expect(ci).toMatchObject({ prefix: first.slice(0, 10), lastUsedAt: null, revokedAt: null });

    let usedAt = '';
    const orm = await openOrm({
      url: db.urlFor('edge'),
      schema: 'edge',
      entities: identityEntities,
      migrations: [],
    });
    try {
      const knex = orm.em.getConnection().getKnex();
      expect((await authenticate(knex, first)).email).toBe('ada@acme.test');
      // As the edge records a call made with it (the edge's own test makes that call over HTTP).
      expect(await recordTokenUse(knex, ci.id)).toBe(true);
      const [used] = await db.query<{ at: Date }>(
        'select last_used_at as at from edge.api_token where id = $1',
        [ci.id],
      );
      usedAt = used!.at.toISOString();
      expect(await cli(['token:revoke', '--id', ci.id])).toMatchObject({
        code: 0,
        stdout: 'revoked\n',
      });
      await expect(authenticate(knex, first)).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
      // The other token still works; revoking again says there is no live token.
      expect((await authenticate(knex, second)).email).toBe('ada@acme.test');
      const again = await cli(['token:revoke', '--id', ci.id]);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('no live token');
    } finally {
      await orm.close(true);
    }
    const after = (await cli(['token:list', '--email', 'ada@acme.test'])).stdout;
    expect(JSON.parse(after.split('\n').find((l) => l.includes(ci.id))!)).toMatchObject({
      lastUsedAt: usedAt,
      revokedAt: expect.any(String),
    });
  });

  it("lists every org's stopped operations as JSON lines, longest stopped first", async () => {
    expect(await cli(['operations:stopped'])).toMatchObject({ code: 0, stdout: '' });
    const [acme] = await db.query<{ id: string }>(`select id from edge.org where name = 'Acme'`);
    const insert = (type: string, status: string, stoppedMinutesAgo: number) =>
      db.query<{ id: string }>(
        `insert into edge.saga (id, type, subject_key, status, definition_version, org_id, actor_user_id, input,
           error, created_at, updated_at, completed_at, resumed_count)
         values (gen_random_uuid(), $1, gen_random_uuid()::text, $2, 3, $3, gen_random_uuid(),
           jsonb_build_object('connectionId', '11111111-1111-4111-8111-111111111111'),
           '{"step":"update-statuses","code":"INTERNAL","reason":null,"message":"internal error"}',
           now() - interval '1 hour', now(), now() - make_interval(mins => $4::int), 1) returning id`,
        [type, status, acme!.id, stoppedMinutesAgo],
      );
    const [newer] = await insert('disconnect', 'failed', 5);
    const [older] = await insert('change-user', 'failed', 50);
    await insert('disconnect', 'completed', 1);
    const r = await cli(['operations:stopped']);
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l['sagaId'])).toEqual([older!.id, newer!.id]);
    expect(lines[1]).toMatchObject({
      org: 'Acme',
      orgId: acme!.id,
      type: 'disconnect',
      connectionId: '11111111-1111-4111-8111-111111111111',
      stoppedAtStep: 'update-statuses',
      error: 'INTERNAL',
      timesResumed: 1,
    });
    const one = await cli(['operations:stopped', '--limit', '1']);
    expect(one.stdout.trim().split('\n')).toHaveLength(1);
    const bad = await cli(['operations:stopped', '--limit', '0']);
    expect(bad.code).toBe(2);
  });

  it('refuses bad input with a usage message and exit code 2, writing nothing', async () => {
    const before = await db.query('select id from edge.app_user');
    for (const args of [
      ['user:create', '--org', 'Acme', '--email', 'not-an-email'],
      ['token:create', '--email', 'nobody@x.test'],
      ['nope'],
      ['org:create', '--bogus', 'x'],
      ['token:revoke', '--id', 'not-a-uuid'],
      ['token:list', '--email', 'nobody@x.test'],
    ]) {
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('usage: npm run cli');
      expect(r.stdout).toBe('');
    }
    expect(await db.query('select id from edge.app_user')).toEqual(before);
  });

  it('refuses a database URL that is not one, naming the variable and never printing its value (exit 1)', async () => {
    for (const [name, value] of [
      ['DATABASE_URL', 'postgress://otesse_edge:s3cret@db/otesse'],
      ['DATABASE_URL', 'not a url s3cret'],
      ['DATABASE_ADMIN_URL', 'mysql://root:s3cret@db/otesse'],
    ] as const) {
      const r = await cli(
        name === 'DATABASE_URL'
          ? ['token:list', '--email', 'someone@example.com']
          : ['db:provision'],
        {
          [name]: value,
        },
      );
      expect(r.code, value).toBe(1);
      expect(r.stderr).toContain(`cli: invalid environment\n  - ${name}: Invalid URL`);
      expect(r.stderr + r.stdout).not.toContain('s3cret');
    }
  });

  it("prints the usage on --help, -h and help (exit 0), and a command's own on <command> --help", async () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const r = await cli(args);
      expect(r, args.join(' ')).toMatchObject({ code: 0, stderr: '' });
      expect(r.stdout).toContain('usage: npm run cli -- <command> [options]');
      for (const c of [
        'db:provision',
        'org:create',
        'user:create',
        'token:list',
        'operations:stopped',
      ])
        expect(r.stdout).toContain(c);
    }
    for (const args of [
      ['org:create', '--help'],
      ['org:create', '-h'],
      ['help', 'org:create'],
      ['--help', 'org:create'],
    ]) {
      const r = await cli(args);
      expect(r, args.join(' ')).toMatchObject({ code: 0, stderr: '' });
      expect(r.stdout).toContain(
        'usage: npm run cli -- org:create   --name <name> [--allow-duplicate]',
      );
      expect(r.stdout).not.toContain('token:list');
    }
    // A command's bad input shows that command's usage; nothing given, or an unknown command, all of them.
    const bad = await cli(['token:revoke', '--id', 'x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('usage: npm run cli -- token:revoke --id <token id>');
    expect(bad.stderr).not.toContain('org:create');
    for (const args of [[], ['nope']]) {
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('org:create');
    }
  });

  it('refuses a second org of the same name unless --allow-duplicate, and an --org name two orgs share', async () => {
    const first = await cli(['org:create', '--name', 'Globex']);
    expect(first.code).toBe(0);
    const firstId = first.stdout.trim();
    for (const name of ['Globex', 'globex']) {
      const again = await cli(['org:create', '--name', name]);
      expect(again).toMatchObject({ code: 1, stdout: '' });
      expect(again.stderr).toContain(`an org named ${name} exists already`);
      expect(again.stderr).toContain('--allow-duplicate');
      expect(again.stderr).toContain(firstId);
    }
    expect(await db.query(`select id from edge.org where lower(name) = 'globex'`)).toHaveLength(1);

    const second = await cli(['org:create', '--name', 'Globex', '--allow-duplicate']);
    expect(second.code).toBe(0);
    const secondId = second.stdout.trim();
    expect(secondId).not.toBe(firstId);
    const ambiguous = await cli(['user:create', '--org', 'Globex', '--email', 'hank@globex.test']);
    expect(ambiguous).toMatchObject({ code: 1, stdout: '' });
    expect(ambiguous.stderr).toContain('2 orgs are named Globex: pass --org <id>');
    expect(ambiguous.stderr).toContain(firstId);
    expect(ambiguous.stderr).toContain(secondId);
    expect(await db.query(`select id from edge.app_user where email = 'hank@globex.test'`)).toEqual(
      [],
    );
    const byId = await cli(['user:create', '--org', secondId, '--email', 'hank@globex.test']);
    expect(byId.code).toBe(0);
    const [hank] = await db.query<{ org_id: string }>(
      `select org_id from edge.app_user where email = 'hank@globex.test'`,
    );
    expect(hank?.org_id).toBe(secondId);
  });
});
