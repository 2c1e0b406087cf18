// npm start: the whole stack on local Postgres + NATS, the fake provider, a seeded demo org; prints URLs and tokens.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { parseEnv, ZDatabaseUrl, ZLogLevel } from '@otesse/config';
import { identityEntities } from '@otesse/identity';
import { connectNats, natsServersForLog } from '@otesse/messaging';
import {
  assertDatabaseReachable,
  databaseName,
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
import { seedDemo } from './demo-seed';
import { assertPortsFree, explainListenError, PortInUseError, type TNamedPort } from './ports';
import { acquireStackGuard, StackInUseError, type TStackGuard } from './stack-guard';

const ZStartEnv = z.object({
  DATABASE_URL: ZDatabaseUrl.default('postgres://postgres@127.0.0.1:5432/otesse'),
  NATS_URL: z.string().default('nats://127.0.0.1:4222'),
  EDGE_PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  DASHBOARD_PORT: z.coerce.number().int().min(0).max(65535).default(5173),
  FAKE_PROVIDER_PORT: z.coerce.number().int().min(0).max(65535).default(4010),
  VAULT_MASTER_KEY: z.string().optional(),
  LOG_LEVEL: ZLogLevel.default('info'),
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
      say(
        `✗ NATS at ${natsServersForLog(env.NATS_URL)} has no JetStream: start nats-server with -js`,
      );
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

async function seedDemoOrg(): Promise<{ email: string; role: string; token: string }[]> {
  const orm = await openOrm({
    url: urlForRole(env.DATABASE_URL, SERVICE_SCHEMAS.edge.role),
    schema: SERVICE_SCHEMAS.edge.schema,
    entities: identityEntities,
    migrations: [],
  });
  try {
    // One file per database: another stack's database has tokens of its own.
    const file = resolve(env.OTESSE_DEV_DIR, `demo-tokens.${databaseName(env.DATABASE_URL)}.json`);
    return await seedDemo(orm.em.getConnection().getKnex(), file);
  } finally {
    await orm.close(true);
  }
}

/** Refuses (exit 1) when another stack runs on this database or NATS, or a port is taken. */
async function guard(): Promise<TStackGuard> {
  let held: TStackGuard;
  try {
    held = await acquireStackGuard({
      databaseUrl: env.DATABASE_URL,
      natsUrl: env.NATS_URL,
      edgeUrl: `http://127.0.0.1:${env.EDGE_PORT}`,
      createDatabase: () => provisionDatabase(env.DATABASE_URL, Object.values(SERVICE_SCHEMAS)),
      onLost: (why) =>
        say(`! ${why}: another npm start on the same database would no longer be refused`),
    });
  } catch (e) {
    if (!(e instanceof StackInUseError)) throw e;
    say(`✗ ${e.message}`);
    process.exit(1);
  }
  try {
    await assertPortsFree(ports());
  } catch (e) {
    await held.release();
    if (!(e instanceof PortInUseError)) throw e;
    say(`✗ ${e.message}`);
    process.exit(1);
  }
  return held;
}

function ports(): TNamedPort[] {
  return [
    { variable: 'FAKE_PROVIDER_PORT', port: env.FAKE_PROVIDER_PORT },
    { variable: 'EDGE_PORT', port: env.EDGE_PORT },
    ...(env.START_DASHBOARD === '1'
      ? [{ variable: 'DASHBOARD_PORT', port: env.DASHBOARD_PORT }]
      : []),
  ];
}

async function main(): Promise<void> {
  await preflight();
  const held = await guard();
  mkdirSync(env.OTESSE_DEV_DIR, { recursive: true });
  await provisionDatabase(env.DATABASE_URL, Object.values(SERVICE_SCHEMAS));
  const fake = await startFakeProvider({ port: env.FAKE_PROVIDER_PORT }).catch((e: unknown) => {
    throw explainListenError(e, { variable: 'FAKE_PROVIDER_PORT', port: env.FAKE_PROVIDER_PORT });
  });
  // Named after the fake provider's port: a second stack (its own database and NATS) writes its own.
  const providersFile = writeFakeProvidersFile(
    fake.url,
    resolve(env.OTESSE_DEV_DIR, `providers.${fake.port}.json`),
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
  const tokens = await seedDemoOrg();

  const stop = async (): Promise<void> => {
    await dashboard?.kill('SIGTERM');
    await stack.stop();
    await fake.close();
    await held.release();
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
  say(`  nats             ${natsServersForLog(env.NATS_URL)}`);
  say('  demo org "Demo Org" — API tokens (Authorization: Bearer <token>):');
  for (const t of tokens) say(`    ${t.role.padEnd(7)} ${t.email.padEnd(26)} ${t.token}`);
  say('Ctrl-C stops everything.');
}

main().catch((e: unknown) => {
  if (e instanceof PortInUseError) say(`✗ ${e.message}`);
  else say(`✗ npm start failed: ${(e as Error).message}`);
  process.exit(1);
});
