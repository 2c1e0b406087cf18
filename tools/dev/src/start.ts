// npm start: the whole stack on local Postgres + NATS, the fake provider, a seeded demo org; prints URLs and tokens.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { parseEnv } from '@otesse/config';
import {
  createOrg,
  createToken,
  createUser,
  findOrgByName,
  findUserByEmail,
  identityEntities,
  ROLE_PERMISSIONS,
} from '@otesse/identity';
import { connectNats } from '@otesse/messaging';
import {
  assertDatabaseReachable,
  migrationRoleOf,
  openOrm,
  provisionDatabase,
  redactUrl,
  SERVICE_SCHEMAS,
  urlForRole,
} from '@otesse/persistence';
import { startFakeProvider, writeFakeProvidersFile } from '@otesse/fake-provider';
import {
  randomMasterKey,
  REPO_ROOT,
  spawnTs,
  startStack,
  waitFor,
  type TChild,
} from '@otesse/testing';

const ZStartEnv = z.object({
  DATABASE_URL: z.url().default('postgres://postgres@127.0.0.1:5432/otesse'),
  NATS_URL: z.string().default('nats://127.0.0.1:4222'),
  EDGE_PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  DASHBOARD_PORT: z.coerce.number().int().min(0).max(65535).default(5173),
  FAKE_PROVIDER_PORT: z.coerce.number().int().min(0).max(65535).default(4010),
  VAULT_MASTER_KEY: z.string().optional(),
  LOG_LEVEL: z.string().default('info'),
  /** `0` skips the dashboard (the smoke test does). */
  START_DASHBOARD: z.enum(['0', '1']).default('1'),
  OTESSE_DEV_DIR: z.string().default(resolve(REPO_ROOT, 'tmp/dev')),
});

const env = parseEnv('npm start', ZStartEnv);
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

async function preflight(): Promise<void> {
  try {
    await assertDatabaseReachable(env.DATABASE_URL);
  } catch (e) {
    say(`✗ ${(e as Error).message}`);
    process.exit(1);
  }
  try {
    const nc = await connectNats({
      url: env.NATS_URL,
      name: 'npm-start-preflight',
      reconnect: false,
    });
    const jsm = await nc.jetstreamManager().catch(() => undefined);
    await nc.close();
    if (!jsm) {
      say(`✗ NATS at ${env.NATS_URL} has no JetStream: start nats-server with -js`);
      process.exit(1);
    }
  } catch (e) {
    say(`✗ ${(e as Error).message}`);
    process.exit(1);
  }
}

/** The dev master key is kept on disk so restarts can still decrypt what the vault stored before. */
function devMasterKey(): string {
  if (env.VAULT_MASTER_KEY) return env.VAULT_MASTER_KEY;
  const file = resolve(env.OTESSE_DEV_DIR, 'vault-master-key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const key = randomMasterKey('dev1');
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}

async function seedDemo(): Promise<{ email: string; role: string; token: string }[]> {
  const orm = await openOrm({
    url: urlForRole(env.DATABASE_URL, SERVICE_SCHEMAS.edge.role),
    schema: SERVICE_SCHEMAS.edge.schema,
    entities: identityEntities,
    migrations: [],
  });
  try {
    const knex = orm.em.getConnection().getKnex();
    const org =
      (await findOrgByName(knex, 'Demo Org')) ?? (await createOrg(knex, { name: 'Demo Org' }));
    const people = [
      { email: 'admin@demo.otesse.test', name: 'Ada Admin', role: 'admin' as const },
      { email: 'member@demo.otesse.test', name: 'Max Member', role: 'member' as const },
      { email: 'viewer@demo.otesse.test', name: 'Vera Viewer', role: 'viewer' as const },
    ];
    const out = [];
    for (const p of people) {
      const user =
        (await findUserByEmail(knex, p.email)) ??
        (await createUser(knex, {
          orgId: org.id,
          email: p.email,
          name: p.name,
          permissions: ROLE_PERMISSIONS[p.role],
        }));
      const { token } = await createToken(knex, { userId: user.id, label: 'npm start' });
      out.push({ email: p.email, role: p.role, token });
    }
    return out;
  } finally {
    await orm.close(true);
  }
}

async function main(): Promise<void> {
  await preflight();
  mkdirSync(env.OTESSE_DEV_DIR, { recursive: true });
  await provisionDatabase(env.DATABASE_URL, Object.values(SERVICE_SCHEMAS));
  const fake = await startFakeProvider({ port: env.FAKE_PROVIDER_PORT });
  const providersFile = writeFakeProvidersFile(
    fake.url,
    resolve(env.OTESSE_DEV_DIR, 'providers.json'),
  );
  const dashboardUrl = `http://127.0.0.1:${env.DASHBOARD_PORT}`;
  const prefix = (service: string, chunk: string): void => {
    for (const line of chunk.split('\n').filter(Boolean))
      process.stdout.write(`[${service}] ${line}\n`);
  };
  const stack = await startStack({
    databaseUrlFor: (s) => urlForRole(env.DATABASE_URL, SERVICE_SCHEMAS[s].role),
    // Only the audit service migrates as another role (its schema's owner).
    migrationsDatabaseUrlFor: (s) =>
      migrationRoleOf(s) === SERVICE_SCHEMAS[s].role
        ? undefined
        : urlForRole(env.DATABASE_URL, migrationRoleOf(s)),
    natsUrl: env.NATS_URL,
    providersFile,
    vaultMasterKey: devMasterKey(),
    edgePort: env.EDGE_PORT,
    dashboardUrl,
    logLevel: env.LOG_LEVEL,
    onOutput: prefix,
  });
  let dashboard: TChild | undefined;
  const dashboardEntry = 'apps/dashboard/vite.config.ts';
  if (env.START_DASHBOARD === '1' && existsSync(resolve(REPO_ROOT, dashboardEntry))) {
    dashboard = spawnTs(
      'node_modules/vite/bin/vite.js',
      { EDGE_URL: stack.edgeUrl },
      [
        '--config',
        dashboardEntry,
        '--port',
        String(env.DASHBOARD_PORT),
        '--strictPort',
        '--host',
        '127.0.0.1',
      ],
      (c) => prefix('dashboard', c),
    );
    await waitFor(async () => (await fetch(dashboardUrl).catch(() => undefined))?.ok === true, {
      timeoutMs: 60_000,
      what: 'dashboard',
    });
  }
  const tokens = await seedDemo();

  const stop = async (): Promise<void> => {
    await dashboard?.kill('SIGTERM');
    await stack.stop();
    await fake.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  // The terminal closed: stop everything too (the edge takes SIGHUP as "reload the certificate" and would stay).
  process.on('SIGHUP', () => void stop());

  say('');
  say('Otesse Integrations is up');
  say(`  edge (tRPC)      ${stack.edgeUrl}/trpc`);
  say(`  dashboard        ${dashboard ? dashboardUrl : '(not started)'}`);
  say(`  fake provider    ${fake.url}  (control API: ${fake.url}/_control/state)`);
  say(`  postgres         ${redactUrl(env.DATABASE_URL)}`);
  say(`  nats             ${env.NATS_URL}`);
  say('  demo org "Demo Org" — API tokens (Authorization: Bearer <token>):');
  for (const t of tokens) say(`    ${t.role.padEnd(7)} ${t.email.padEnd(26)} ${t.token}`);
  say('Ctrl-C stops everything.');
}

main().catch((e: unknown) => {
  say(`✗ npm start failed: ${(e as Error).message}`);
  process.exit(1);
});
