import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgClientConfig } from '@otesse/persistence';
import {
  createTestDatabase,
  freePort,
  randomMasterKey,
  SERVICE_ENTRIES,
  spawnTs,
  startNatsServer,
  waitFor,
  type TChild,
  type TStackService,
  type TTestDatabase,
  type TTestNats,
} from '@otesse/testing';

// How operators deploy each service on its own: a migrate step (`main migrate`, a Kubernetes Job) before the
// services start with MIGRATE_ON_START=false, probes that tell a long migration from a dead process, and an edge
// that stays in service until its load balancer lets go.
const SERVICES = Object.keys(SERVICE_ENTRIES) as TStackService[];

let nats: TTestNats;
const databases: TTestDatabase[] = [];
const children: TChild[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
}, 30_000);

afterAll(async () => {
  await Promise.all(children.map((c) => c.kill('SIGKILL')));
  await nats?.stop();
  for (const db of databases) await db.drop();
});

async function freshDatabase(): Promise<TTestDatabase> {
  const db = await createTestDatabase('otesse_life');
  databases.push(db);
  return db;
}

function envOf(
  service: TStackService,
  db: TTestDatabase,
  more: Record<string, string> = {},
): Record<string, string> {
  return {
    DATABASE_URL: db.urlFor(service),
    ...(service === 'audit' ? { MIGRATIONS_DATABASE_URL: db.migrationsUrlFor('audit') } : {}),
    NATS_URL: nats.url,
    VAULT_MASTER_KEY: randomMasterKey(),
    OAUTH_SESSION_SECRET: randomBytes(32).toString('hex'),
    LOG_LEVEL: 'info',
    ...more,
  };
}

function spawn(service: TStackService, env: Record<string, string>, args: string[] = []): TChild {
  const child = spawnTs(SERVICE_ENTRIES[service], env, args);
  children.push(child);
  return child;
}

async function exitOf(child: TChild): Promise<number | null> {
  if (child.proc.exitCode !== null) return child.proc.exitCode;
  return new Promise((resolve) => child.proc.once('exit', (code) => resolve(code)));
}

/** The JSON log lines a process printed (pino), parsed. */
function logLines(child: TChild): Record<string, unknown>[] {
  return child
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function appliedMigrations(db: TTestDatabase, service: TStackService): Promise<string[]> {
  const schema = { 'credential-vault': 'vault', 'sync-scheduler': 'sync' }[service as string];
  const rows = await db.query<{ name: string }>(
    `select name from ${schema ?? service}.mikro_orm_migrations order by id`,
  );
  return rows.map((r) => r.name);
}

const probe = async (url: string): Promise<{ status: number; body: unknown } | undefined> => {
  const r = await fetch(url).catch(() => undefined);
  return r ? { status: r.status, body: await r.json().catch(() => undefined) } : undefined;
};

describe('a migrate job, then services that only check the schema (MIGRATE_ON_START=false)', () => {
  let db: TTestDatabase;
  beforeAll(async () => {
    db = await freshDatabase();
  });

  it.each(SERVICES)(
    '%s: on a schema behind the build it refuses to start, naming the pending migrations, and changes nothing',
    async (service) => {
      const child = spawn(service, envOf(service, db, { MIGRATE_ON_START: 'false' }));
      expect(await exitOf(child)).toBe(1);
      const fatal = logLines(child).find((l) => l['level'] === 'fatal');
      expect(fatal).toMatchObject({ reason: 'migrations_pending' });
      expect(String(fatal?.['msg'])).toContain('MIGRATE_ON_START=false');
      expect((fatal?.['details'] as { pending: string[] }).pending.length).toBeGreaterThan(0);
      const tables = await db.query(
        `select 1 from information_schema.tables where table_schema = $1`,
        [
          service === 'credential-vault'
            ? 'vault'
            : service === 'sync-scheduler'
              ? 'sync'
              : service,
        ],
      );
      expect(tables).toEqual([]);
    },
    60_000,
  );

  it.each(SERVICES)(
    '%s: `main migrate` applies every migration and exits 0; a second run finds nothing pending',
    async (service) => {
      const first = spawn(service, envOf(service, db), ['migrate']);
      expect(await exitOf(first)).toBe(0);
      const applied = logLines(first).find((l) => l['msg'] === 'migrations applied');
      expect(applied?.['applied']).toEqual(await appliedMigrations(db, service));
      expect((applied?.['applied'] as string[]).length).toBeGreaterThan(0);
      // Not a server: it never connected to NATS nor said it was ready.
      expect(first.output()).not.toMatch(/ ready"/);

      const again = spawn(service, envOf(service, db), ['migrate']);
      expect(await exitOf(again)).toBe(0);
      expect(logLines(again).find((l) => l['msg'] === 'no migration pending')).toMatchObject({
        applied: [],
      });
    },
    60_000,
  );

  it('after the job, a service with MIGRATE_ON_START=false starts and serves', async () => {
    const port = await freePort();
    const child = spawn(
      'connection',
      envOf('connection', db, { MIGRATE_ON_START: 'false', HEALTH_PORT: String(port) }),
    );
    await waitFor(async () => (await probe(`http://127.0.0.1:${port}/readyz`))?.status === 200, {
      timeoutMs: 60_000,
      what: 'connection ready',
    });
    expect(child.output()).not.toContain('migrations applied');
    expect(await child.kill('SIGTERM')).toBe(0);
  }, 90_000);

  it('an unknown command is refused before anything is touched', async () => {
    const child = spawn('sync-scheduler', envOf('sync-scheduler', db), ['migrate-down']);
    expect(await exitOf(child)).toBe(1);
    expect(logLines(child).find((l) => l['level'] === 'fatal')).toMatchObject({
      reason: 'unknown_command',
    });
  }, 60_000);
});

describe('probes while a start waits for its migrations', () => {
  it('answers /healthz (alive) and /readyz 503 `starting` until the migrations ran, then ready', async () => {
    const db = await freshDatabase();
    // Another replica migrating: the advisory lock every migration takes, held by us.
    const holder = new pg.Client(pgClientConfig(db.adminUrl));
    await holder.connect();
    try {
      await holder.query(`select pg_advisory_lock(hashtext('otesse:migrate:sync'))`);
      const port = await freePort();
      const child = spawn(
        'sync-scheduler',
        envOf('sync-scheduler', db, { HEALTH_PORT: String(port) }),
      );
      const base = `http://127.0.0.1:${port}`;
      await waitFor(async () => (await probe(`${base}/healthz`))?.status === 200, {
        timeoutMs: 60_000,
        what: '/healthz during the migrations',
      });
      // The start is waiting on the lock (its session queued behind ours): not ready, saying why.
      await waitFor(
        async () =>
          (
            await db.query<{ waiting: number }>(
              `select count(*)::int as waiting from pg_locks where locktype = 'advisory' and not granted
                 and database = (select oid from pg_database where datname = current_database())`,
            )
          )[0]?.waiting === 1,
        { timeoutMs: 30_000, what: 'the start waiting for the migrations lock' },
      );
      expect(await probe(`${base}/readyz`)).toEqual({
        status: 503,
        body: { ok: false, checks: { starting: true } },
      });
      expect(await appliedMigrations(db, 'sync-scheduler').catch(() => [])).toEqual([]);
      await holder.query(`select pg_advisory_unlock(hashtext('otesse:migrate:sync'))`);
      await waitFor(async () => (await probe(`${base}/readyz`))?.status === 200, {
        timeoutMs: 60_000,
        what: 'ready after the migrations',
      });
      expect((await appliedMigrations(db, 'sync-scheduler')).length).toBeGreaterThan(0);
      expect(await child.kill('SIGTERM')).toBe(0);
    } finally {
      await holder.end();
    }
  }, 120_000);
});

describe('edge SIGTERM behind a load balancer (EDGE_SHUTDOWN_DELAY_MS)', () => {
  it('keeps serving while /readyz answers 503 for the delay, then closes its ports and exits 0', async () => {
    const db = await freshDatabase();
    const [edgePort, healthPort] = [await freePort(), await freePort()];
    const child = spawn(
      'edge',
      envOf('edge', db, {
        EDGE_PORT: String(edgePort),
        HEALTH_PORT: String(healthPort),
        EDGE_SHUTDOWN_DELAY_MS: '2500',
      }),
    );
    const edge = `http://127.0.0.1:${edgePort}`;
    await waitFor(async () => (await probe(`${edge}/readyz`))?.status === 200, {
      timeoutMs: 60_000,
      what: 'edge ready',
    });
    const signalledAt = Date.now();
    const exited = exitOf(child).then((code) => ({ code, at: Date.now() }));
    child.proc.kill('SIGTERM');
    await waitFor(async () => (await probe(`${edge}/readyz`))?.status === 503, {
      timeoutMs: 2_000,
      what: 'not ready after SIGTERM',
    });
    // Within the delay: both ports still answer, not ready; requests are still served.
    expect(await probe(`http://127.0.0.1:${healthPort}/readyz`)).toEqual({
      status: 503,
      body: { ok: false, checks: { draining: true } },
    });
    expect((await probe(`${edge}/healthz`))?.status).toBe(200);
    const served = await fetch(`${edge}/trpc/catalogue.list`);
    expect(served.status).toBe(401);
    // A keep-alive client is told to reconnect (to a replica still in rotation).
    expect(served.headers.get('connection')).toBe('close');
    const { code, at } = await exited;
    expect(code).toBe(0);
    expect(at - signalledAt).toBeGreaterThanOrEqual(2_500);
    expect(await probe(`${edge}/healthz`)).toBeUndefined();
    expect(logLines(child).map((l) => l['msg'])).toContain(
      'not ready; serving until the load balancer lets go',
    );
  }, 120_000);
});
