import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestDatabase,
  freePort,
  REPO_ROOT,
  startNatsServer,
  waitFor,
  type TTestDatabase,
  type TTestNats,
} from '@otesse/testing';

const run = promisify(execFile);

// The image runs exactly this: `node tools/build/bundle.mjs audit`, then `node dist/apps/audit/main.mjs`.
// The test bundles into its own folder under tmp/ (inside the repo, so node_modules resolves) to stay out of
// the way of a concurrent `dist/` build.
describe('bundled audit service', () => {
  const outDir = join('tmp', `bundle-test-${randomBytes(4).toString('hex')}`);
  let db: TTestDatabase;
  let nats: TTestNats;
  let child: ChildProcess | undefined;
  let output = '';

  beforeAll(async () => {
    [db, nats] = await Promise.all([createTestDatabase(), startNatsServer()]);
  });
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await nats?.stop();
    await db?.drop();
    rmSync(resolve(REPO_ROOT, outDir), { recursive: true, force: true });
  });

  it('bundles, starts against Postgres and NATS, answers /readyz and stops on SIGTERM', async () => {
    await run(process.execPath, ['tools/build/bundle.mjs', 'audit', '--outdir', outDir], {
      cwd: REPO_ROOT,
    });
    const entry = resolve(REPO_ROOT, outDir, 'main.mjs');
    expect(existsSync(entry)).toBe(true);
    expect(existsSync(`${entry}.map`)).toBe(true);

    const healthPort = await freePort();
    const proc = spawn(process.execPath, [entry], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env['PATH'] ?? '',
        DATABASE_URL: db.urlFor('audit'),
        NATS_URL: nats.url,
        HEALTH_PORT: String(healthPort),
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));

    const status = await waitFor(
      async () => {
        if (proc.exitCode !== null) throw new Error(`bundle exited ${proc.exitCode}:\n${output}`);
        const res = await fetch(`http://127.0.0.1:${healthPort}/readyz`);
        return res.status === 200 ? res.status : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'bundled audit /readyz' },
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${output}`);
    });
    expect(status).toBe(200);
    expect(output).toContain('"msg":"audit ready"');
    // Migrations are listed in the bundle, not discovered on disk: the schema must exist.
    const tables = await db.query<{ table_name: string }>(
      "select table_name from information_schema.tables where table_schema = 'audit'",
    );
    expect(tables.length).toBeGreaterThan(1);

    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('"msg":"audit stopped"');
  }, 30_000);
});

// The compose one-shot `cli` (profile `admin`, tools/build/cli.Dockerfile) runs `node dist/tools/cli/main.mjs`:
// how the first org, admin and token of a compose deployment are made.
describe('bundled admin CLI', () => {
  const outDir = join('tmp', `bundle-cli-test-${randomBytes(4).toString('hex')}`);
  let db: TTestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
    // In compose the edge has migrated its schema before the CLI runs (the `cli` service waits for it).
    await run(
      process.execPath,
      ['--import', 'tsx', resolve(REPO_ROOT, 'apps/edge/src/db/migrate.ts')],
      { cwd: REPO_ROOT, env: { ...process.env, DATABASE_URL: db.urlFor('edge') } },
    );
  });
  afterAll(async () => {
    await db?.drop();
    rmSync(resolve(REPO_ROOT, outDir), { recursive: true, force: true });
  });

  it('bundles; creates an org, an admin and a token, printing only the token', async () => {
    await run(process.execPath, ['tools/build/bundle.mjs', 'cli', '--outdir', outDir], {
      cwd: REPO_ROOT,
    });
    const entry = resolve(REPO_ROOT, outDir, 'main.mjs');
    // As in the image: node alone (no tsx), the edge role's URL.
    const cli = (...args: string[]) =>
      run(process.execPath, [entry, ...args], {
        cwd: REPO_ROOT,
        env: { PATH: process.env['PATH'] ?? '', DATABASE_URL: db.urlFor('edge') },
      });
    expect((await cli('org:create', '--name', 'Acme')).stdout).toMatch(/^[0-9a-f-]{36}\n$/);
    await cli('user:create', '--org', 'Acme', '--email', 'ada@acme.test', '--role', 'admin');
    const { stdout, stderr } = await cli('token:create', '--email', 'ada@acme.test');
    expect(stdout).toMatch(/^\S{20,}\n$/);
    expect(stderr).toBe('');
    const [row] = await db.query<{ n: number }>(
      'select count(*)::int as n from edge.api_token t join edge.app_user u on u.id = t.user_id where u.email = $1',
      ['ada@acme.test'],
    );
    expect(row?.n).toBe(1);
  }, 60_000);
});
