import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTRPCClient, httpBatchLink, TRPCClientError } from '@trpc/client';
import { connect, type NatsConnection } from 'nats';
import {
  createOrg,
  createToken,
  createUser,
  identityEntities,
  ROLE_PERMISSIONS,
} from '@otesse/identity';
import { openOrm, SERVICE_SCHEMAS } from '@otesse/persistence';
import {
  FakeProviderClient,
  startFakeProvider,
  writeFakeProvidersFile,
  type TFakeProvider,
} from '@otesse/fake-provider';
import {
  TestBrowser,
  createTestDatabase,
  startNatsServer,
  startStack,
  type TStack,
  type TStackService,
  type TTestDatabase,
  type TTestNats,
} from '@otesse/testing';
import type { AppRouter } from '../routers/app.router';

export const DASHBOARD_URL = 'http://dashboard.test';

export type TEdgeClient = ReturnType<typeof edgeClient>;

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
): Promise<{ outcome: string; connectionId: string | undefined }> {
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
    envFor?: (service: TStackService) => Record<string, string>;
    /** Run NATS with this config (users, permissions); the harness itself connects as `probe`. */
    natsConfigFile?: string;
  } = {},
): Promise<THarness> {
  const [db, nats, fake] = await Promise.all([
    createTestDatabase(),
    startNatsServer(opts.natsConfigFile ? { configFile: opts.natsConfigFile } : {}),
    startFakeProvider({ port: 0 }),
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'otesse-e2e-'));
  const providersFile = writeFakeProvidersFile(fake.url, join(dir, 'providers.json'));
  const stack = await startStack(
    {
      databaseUrlFor: (s) => db.urlFor(s),
      natsUrl: nats.url,
      providersFile,
      dashboardUrl: DASHBOARD_URL,
      ...(opts.envFor ? { envFor: opts.envFor } : {}),
    },
    opts.services,
  );
  const orm = await openOrm({
    url: db.urlFor('edge'),
    schema: SERVICE_SCHEMAS.edge.schema,
    entities: identityEntities,
    migrations: [],
  });
  const knex = orm.em.getConnection().getKnex();
  const org = await createOrg(knex, { name: 'Acme' });
  const other = await createOrg(knex, { name: 'Globex' });
  const seed = async (
    orgId: string,
    email: string,
    role: keyof typeof ROLE_PERMISSIONS,
  ): Promise<TSeededUser> => {
    const u = await createUser(knex, {
      orgId,
      email,
      name: email.split('@')[0] ?? email,
      permissions: ROLE_PERMISSIONS[role],
    });
    const { token } = await createToken(knex, { userId: u.id });
    return { id: u.id, email, token, client: edgeClient(stack.edgeUrl, token) };
  };
  const admin = await seed(org.id, 'admin@acme.test', 'admin');
  const member = await seed(org.id, 'member@acme.test', 'member');
  const viewer = await seed(org.id, 'viewer@acme.test', 'viewer');
  const otherAdmin = await seed(other.id, 'admin@globex.test', 'admin');
  await orm.close(true);
  const nc = await connect({
    servers: nats.url,
    ...(opts.natsConfigFile ? { user: 'probe', pass: 'probe' } : {}),
  });
  return {
    db,
    nats,
    nc,
    fake,
    fakeClient: new FakeProviderClient(fake.url),
    stack,
    providersFile,
    orgId: org.id,
    otherOrgId: other.id,
    admin,
    member,
    viewer,
    otherAdmin,
    anonymous: edgeClient(stack.edgeUrl, undefined),
    close: async () => {
      await nc.close().catch(() => undefined);
      await stack.stop();
      await fake.close();
      await nats.stop();
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
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
