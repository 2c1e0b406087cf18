import { createTRPCClient, httpBatchLink, TRPCClientError } from '@trpc/client';
import { connect, type NatsConnection } from 'nats';
import * as identity from '@otesse/identity';
import { FakeProviderClient, type TFakeProvider } from '@otesse/fake-provider';
import {
  TestBrowser,
  natsClientTls,
  seedOrg,
  startTestStack,
  type TSeededOrgUser,
  type TStack,
  type TStackService,
  type TTestDatabase,
  type TTestNats,
} from '@otesse/testing';
import { createLogger, type Logger } from '@otesse/logging';
import { startEdge, type TEdgeConfig, type TRunningEdge } from '../edge.server';
import type { AppRouter } from '../routers/app.router';

export const DASHBOARD_URL = 'http://dashboard.test';

export type TEdgeClient = ReturnType<typeof edgeClient>;

/**
 * Another edge replica in this process, on the harness's database and NATS, no recovery loop of its own: a test
 * reaches its internals (`deps`) or reads its logs.
 */
export function startEdgeReplica(
  h: Pick<THarness, 'db' | 'nats' | 'providersFile'>,
  logger: Logger = createLogger({ name: 'edge-replica', level: 'silent' }),
  overrides: Partial<TEdgeConfig> = {},
): Promise<TRunningEdge> {
  return startEdge({
    databaseUrl: h.db.urlFor('edge'),
    natsUrl: h.nats.url,
    port: 0,
    dashboardUrl: DASHBOARD_URL,
    providersFile: h.providersFile,
    sagaRecoveryIntervalMs: 0,
    logger,
    ...overrides,
  });
}

export function edgeClient(edgeUrl: string, token: string | undefined) {
  return createTRPCClient<AppRouter>({
    links: [
      httpBatchLink({
        url: `${edgeUrl}/trpc`,
        headers: () => (token ? { authorization: `Bearer ${token}` } : {}),
      }),
    ],
  });
}

export interface TSeededUser {
  id: string;
  email: string;
  token: string;
  client: TEdgeClient;
}

/** Connects a provider over OAuth through the edge and the fake provider, as a browser would; returns the connection. */
export async function connectOAuth(
  h: THarness,
  who: TSeededUser,
  vendor: string,
  flow: 'app' | 'user',
  opts: { consentAs?: string; action?: 'reconnect' | 'changeUser' } = {},
): Promise<{ outcome: string; connectionId: string | undefined; action: string | null }> {
  if (opts.consentAs) await h.fakeClient.consentAs(opts.consentAs);
  const { url } = await who.client.integrations.oauthUrl.query({
    vendor,
    flow,
    ...(opts.action ? { action: opts.action } : {}),
  });
  const { stoppedAt } = await new TestBrowser().follow(url, { stopAt: DASHBOARD_URL });
  const outcome = new URL(stoppedAt ?? 'http://x/').searchParams;
  const list = await who.client.integrations.list.query();
  const entry = list.find((i) => i.provider.key === vendor);
  const conn = flow === 'app' ? entry?.appConnection : entry?.myConnection;
  return {
    outcome: `${outcome.get('oauth')}${outcome.get('reason') ? `:${outcome.get('reason')}` : ''}`,
    connectionId: conn?.id,
    /** What the dashboard is told was asked (`reconnect`, `changeUser`; null for a connect). */
    action: outcome.get('action'),
  };
}

export interface THarness {
  db: TTestDatabase;
  nats: TTestNats;
  nc: NatsConnection;
  fake: TFakeProvider;
  fakeClient: FakeProviderClient;
  stack: TStack;
  providersFile: string;
  orgId: string;
  otherOrgId: string;
  admin: TSeededUser;
  member: TSeededUser;
  viewer: TSeededUser;
  otherAdmin: TSeededUser;
  anonymous: TEdgeClient;
  close(): Promise<void>;
}

/** The whole stack as separate processes, the fake provider, and a seeded org (admin, member, viewer) plus a second org. */
export async function startHarness(
  opts: {
    services?: TStackService[];
    /** Processes per service (edge replicas on their own ports: `stack.edgeUrls`). */
    replicas?: number | Partial<Record<TStackService, number>>;
    envFor?: (service: TStackService, replica: number) => Record<string, string>;
    /** Run NATS with this config (users, permissions); the harness itself connects as `probe`. */
    natsConfigFile?: string;
    /** A service's database URL as its process gets it (through a `startTcpProxy`, say). */
    rewriteDatabaseUrl?: (service: TStackService, url: string) => string;
    /** The database on this server (a `startPrivatePostgres`) instead of the shared one. */
    postgresAdminUrl?: string;
    /** nats-server's extra environment, and the TLS the harness's own NATS connections use. */
    natsEnv?: Record<string, string>;
    natsClientTls?: { caFile: string; certFile?: string; keyFile?: string };
  } = {},
): Promise<THarness> {
  const { db, nats, fake, stack, providersFile, close } = await startTestStack({
    tmpPrefix: 'otesse-e2e-',
    natsConfigFile: opts.natsConfigFile,
    rewriteDatabaseUrl: opts.rewriteDatabaseUrl,
    postgresAdminUrl: opts.postgresAdminUrl,
    natsEnv: opts.natsEnv,
    natsClientTls: opts.natsClientTls,
    stack: {
      dashboardUrl: DASHBOARD_URL,
      ...(opts.envFor ? { envFor: opts.envFor } : {}),
      ...(opts.replicas ? { replicas: opts.replicas } : {}),
    },
    services: opts.services,
  });
  const withClient = (u: TSeededOrgUser): TSeededUser => ({
    id: u.id,
    email: u.email,
    token: u.token,
    client: edgeClient(stack.edgeUrl, u.token),
  });
  const acme = await seedOrg(identity, db, {
    name: 'Acme',
    users: [
      { email: 'admin@acme.test', role: 'admin' },
      { email: 'member@acme.test', role: 'member' },
      { email: 'viewer@acme.test', role: 'viewer' },
    ],
  });
  const globex = await seedOrg(identity, db, {
    name: 'Globex',
    users: [{ email: 'admin@globex.test', role: 'admin' }],
  });
  const [admin, member, viewer] = acme.users;
  const [otherAdmin] = globex.users;
  const nc = await connect({
    servers: nats.url,
    ...(opts.natsConfigFile ? { user: 'probe', pass: 'probe' } : {}),
    ...(opts.natsClientTls ? { tls: natsClientTls(opts.natsClientTls) } : {}),
  });
  return {
    db,
    nats,
    nc,
    fake,
    fakeClient: new FakeProviderClient(fake.url),
    stack,
    providersFile,
    orgId: acme.orgId,
    otherOrgId: globex.orgId,
    admin: withClient(admin),
    member: withClient(member),
    viewer: withClient(viewer),
    otherAdmin: withClient(otherAdmin),
    anonymous: edgeClient(stack.edgeUrl, undefined),
    close: async () => {
      await nc.close().catch(() => undefined);
      await close();
    },
  };
}

/** The tRPC error code of a failed call (throws if it did not fail). */
export async function trpcErrorOf(
  p: Promise<unknown>,
): Promise<{ code: string; message: string; data: Record<string, unknown> }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof TRPCClientError) {
      const data = (e.data ?? {}) as Record<string, unknown>;
      return { code: String(data['code']), message: e.message, data };
    }
    throw e;
  }
  throw new Error('expected the call to fail');
}
