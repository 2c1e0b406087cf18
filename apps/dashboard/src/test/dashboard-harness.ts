/* eslint-disable @nx/enforce-module-boundaries -- test-only: the harness starts the backend (database, NATS,
   service processes, fake provider) next to the dashboard; none of it is imported by the browser bundle. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { builtinWebhookSignature, signWebhook } from '@otesse/providers';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import * as identity from '@otesse/identity';
import { Bus, connectNats } from '@otesse/messaging';
import { FakeProviderClient, type TFakeProvider } from '@otesse/fake-provider';
import {
  failUpdatesWhere,
  freePort,
  REPO_ROOT,
  seedOrg,
  startStack,
  startTestBackend,
  waitFor,
  type TStack,
  type TTestDatabase,
  type TTestNats,
} from '@otesse/testing';

export { failUpdatesWhere, waitFor };

export const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
export const SCREENSHOT_DIR = resolve(REPO_ROOT, 'docs/screenshots');

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export interface TSeededUser {
  id: string;
  email: string;
  name: string;
  token: string;
}

export interface TDashboardHarness {
  db: TTestDatabase;
  nats: TTestNats;
  fake: TFakeProvider;
  fakeClient: FakeProviderClient;
  stack: TStack;
  vite: TNodeChild;
  dashboardUrl: string;
  orgId: string;
  admin: TSeededUser;
  member: TSeededUser;
  viewer: TSeededUser;
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught exceptions of every page so far; tests assert it stays empty. */
  consoleErrors: string[];
  close(): Promise<void>;
}

/** Below vitest's hookTimeout (120 s), so a start-up that hangs still tears down what it started. */
const START_DEADLINE_MS = 100_000;

/**
 * The whole product as a person meets it: every backend service as its own process on a fresh database and a
 * private NATS, the fake OAuth provider, the Vite dev server of the dashboard (whose URL the edge redirects back to
 * after OAuth), and headless Chromium.
 */
export async function startDashboardHarness(): Promise<TDashboardHarness> {
  // Everything started so far, stopped in reverse order by close() or by a failed start.
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanUp = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    cleanups.length = 0;
  };
  const started: string[] = [];
  let deadlineTimer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    deadlineTimer = setTimeout(
      () =>
        reject(
          new Error(
            `the dashboard harness did not start within ${START_DEADLINE_MS} ms (started: ${started.join(', ') || 'nothing'})`,
          ),
        ),
      START_DEADLINE_MS,
    );
  });
  deadline.catch(() => undefined); // raced below; never an unhandled rejection
  const within = <T>(p: Promise<T>): Promise<T> => Promise.race([p, deadline]);

  try {
    const [backend, edgePort, dashboardPort] = await within(
      Promise.all([
        startTestBackend({ tmpPrefix: 'otesse-dashboard-e2e-' }).then(
          (b) => (cleanups.push(() => b.close()), b),
        ),
        freePort(),
        freePort(),
      ]),
    );
    const { db, nats, fake } = backend;
    const dashboardUrl = `http://127.0.0.1:${dashboardPort}`;
    const edgeUrl = `http://127.0.0.1:${edgePort}`;

    // The dev server only needs to know where the edge will be: start both at once. Plain node, not through
    // tsx: Vite compiles its own config, and a tsx loader makes it start ~10× slower.
    const vite = spawnNode(
      [
        'node_modules/vite/bin/vite.js',
        '--config',
        'apps/dashboard/vite.config.ts',
        '--port',
        String(dashboardPort),
        '--strictPort',
        '--host',
        '127.0.0.1',
      ],
      { EDGE_URL: edgeUrl },
    );
    cleanups.push(() => vite.kill('SIGTERM'));
    const viteReady = waitFor(
      async () => {
        if (vite.proc.exitCode !== null) throw new Error(`vite exited:\n${vite.output()}`);
        return (await fetch(dashboardUrl).catch(() => undefined))?.ok === true;
      },
      { timeoutMs: 60_000, intervalMs: 100, what: 'the dashboard dev server' },
    ).then(() => started.push('vite'));
    const stackStart = startStack({
      ...backend.stackOptions,
      edgePort,
      dashboardUrl,
      envFor: (service) => {
        started.push(`${service} (spawned)`);
        return {};
      },
    });
    // If the deadline wins, the stack is still stopped once it settles.
    cleanups.push(() => stackStart.then((s) => s.stop()));
    const [stack] = await within(Promise.all([stackStart, viteReady]));

    const {
      orgId,
      users: [admin, member, viewer],
    } = await seedOrg(identity, db, {
      name: 'Acme',
      users: [
        { email: 'admin@acme.test', name: 'Ada Admin', role: 'admin' },
        { email: 'member@acme.test', name: 'Max Member', role: 'member' },
        { email: 'viewer@acme.test', name: 'Vera Viewer', role: 'viewer' },
      ],
    });

    const browser = await within(
      chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS }),
    );
    cleanups.push(() => browser.close());
    const context = await browser.newContext({
      viewport: { width: 1280, height: 860 },
      deviceScaleFactor: 1,
      locale: 'en-US',
      timezoneId: 'UTC',
    });
    const consoleErrors: string[] = [];
    context.on('page', (p) => watchConsole(p, consoleErrors));
    const page = await context.newPage();
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    clearTimeout(deadlineTimer);

    return {
      db,
      nats,
      fake,
      fakeClient: new FakeProviderClient(fake.url),
      stack,
      vite,
      dashboardUrl,
      orgId,
      admin,
      member,
      viewer,
      browser,
      context,
      page,
      consoleErrors,
      close: cleanUp,
    };
  } catch (e) {
    clearTimeout(deadlineTimer);
    await cleanUp();
    throw e;
  }
}

export interface TNodeChild {
  proc: ChildProcess;
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

function spawnNode(args: string[], env: Record<string, string>): TNodeChild {
  const proc = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const take = (d: Buffer): void => {
    out = (out + d.toString()).slice(-200_000);
  };
  proc.stdout.on('data', take);
  proc.stderr.on('data', take);
  return {
    proc,
    output: () => out,
    kill: (signal = 'SIGTERM') =>
      new Promise((res) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return res(proc.exitCode);
        proc.once('exit', (code) => res(code));
        proc.kill(signal);
      }),
  };
}

function watchConsole(page: Page, sink: string[]): void {
  page.on('console', (msg) => {
    if (msg.type() === 'error') sink.push(`console: ${msg.text()} (${page.url()})`);
  });
  page.on('pageerror', (err) => sink.push(`uncaught: ${err.message} (${page.url()})`));
}

/** Another API token of a seeded user (its id and the plaintext, shown once), as the CLI's token:create makes one. */
export async function createUserToken(
  h: TDashboardHarness,
  userId: string,
): Promise<{ id: string; token: string }> {
  const token = `otk_${randomBytes(32).toString('base64url')}`;
  const [row] = await h.db.query<{ id: string }>(
    `insert into edge.api_token (id, user_id, org_id, token_hash, prefix, label, created_at)
     select gen_random_uuid(), id, org_id, $2, $3, 'test token', now() from edge.app_user where id = $1
     returning id`,
    [userId, identity.hashToken(token), token.slice(0, 10)],
  );
  return { id: row!.id, token };
}

/** Signs in through the sign-in screen, exactly as a person pastes their token. */
export async function signIn(h: TDashboardHarness, user: TSeededUser): Promise<void> {
  const { page } = h;
  await page.goto(h.dashboardUrl);
  await page.getByLabel('API token').fill(user.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('current-user').getByText(user.email).waitFor();
}

/** Saved to docs/screenshots/<name>.png for the README. */
export async function screenshot(
  page: Page,
  name: string,
  opts: { fullPage?: boolean } = {},
): Promise<void> {
  if (opts.fullPage ?? true) await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({
    path: join(SCREENSHOT_DIR, `${name}.png`),
    fullPage: opts.fullPage ?? true,
    animations: 'disabled',
    caret: 'hide',
  });
}

/** The signature header value a provider would send with this delivery (the catalogue's scheme, no timestamp). */
export function signedBy(vendor: string, secret: string, body: string): string {
  return signWebhook(builtinWebhookSignature(vendor), secret, body, null);
}

/**
 * A connect whose edge died between the provider's callback and the activation: its connection is left `pending`,
 * created as that edge had asked the connection service to.
 */
export async function leaveUnfinishedConnect(
  h: Pick<TDashboardHarness, 'nats' | 'orgId'>,
  c: { vendor: string; level: 'app' | 'user'; userId: string; externalAccountId: string },
): Promise<string> {
  const nc = await connectNats({ url: h.nats.url, name: 'browser-test' });
  try {
    const { connection } = await new Bus(nc).request('connection.connections.create', {
      orgId: h.orgId,
      ...c,
      tenantId: 'acme',
    });
    return connection.id;
  } finally {
    await nc.close();
  }
}
