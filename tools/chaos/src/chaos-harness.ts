import { connect, type NatsConnection } from 'nats';
import * as identity from '@otesse/identity';
import type { TFakeProvider } from '@otesse/fake-provider';
import {
  freePort,
  NATS_CONFIG_FILE,
  NATS_DEV_USERS,
  seedOrg,
  startDatabaseProxy,
  startTestStack,
  STACK_SERVICES,
  type TStack,
  type TStackService,
  type TTestDatabase,
  type TTcpProxy,
  type TTestNats,
} from '@otesse/testing';

/** The edge sends browsers here at the end of an OAuth flow; nothing is served there. */
export const CHAOS_DASHBOARD_URL = 'http://dashboard.chaos.test';

export interface TChaosUser {
  id: string;
  email: string;
  token: string;
  role: 'member' | 'admin';
}

export interface TChaosHarnessOptions {
  /** Processes per service (edge replicas on distinct ports). */
  replicas?: number;
  /** Members to seed (each chaos client acts as its own user). */
  users: number;
  /** Admins to seed besides (settings.view: audit log, sync jobs); `users` holds them after the members. */
  admins?: number;
  /** How long a dead edge's sagas wait before another (or the restarted) edge resumes them. */
  sagaLeaseMs?: number;
  logLevel?: string;
  /**
   * Every edge replica announces the first one's URL as its public URL (EDGE_PUBLIC_URL), as replicas behind one
   * address do: OAuth start links and redirect URIs are the same whichever replica made them.
   */
  sharedPublicUrl?: boolean;
  /** Extra env for every process of a service. */
  envFor?: (service: TStackService, replica: number) => Record<string, string>;
}

export interface TChaosHarness {
  db: TTestDatabase;
  nats: TTestNats;
  /** NATS as the `probe` user (operators' tooling): reads the streams for the invariants. */
  nc: NatsConnection;
  fake: TFakeProvider;
  stack: TStack;
  /**
   * Each service's path to Postgres (shared by its replicas), through a TCP proxy the fault injector can cut: the
   * database out of reach for one service while the others and the server itself go on.
   */
  databasePaths: Map<TStackService, TTcpProxy>;
  orgId: string;
  /** The members, then the admins. */
  users: TChaosUser[];
  close(): Promise<void>;
}

/**
 * Postgres (a fresh database), NATS with the project's config (a user per service, subject permissions; its
 * JetStream store kept across restarts), the fake OAuth provider, the backend as processes, one org with
 * `users` members. Everything it starts, `close()` stops and removes.
 */
export async function startChaosHarness(opts: TChaosHarnessOptions): Promise<TChaosHarness> {
  const leaseMs = String(opts.sagaLeaseMs ?? 3_000);
  const edgePort = await freePort();
  const databasePaths = new Map<TStackService, TTcpProxy>();
  for (const s of STACK_SERVICES) databasePaths.set(s, await startDatabaseProxy());
  const closePaths = async (): Promise<void> => {
    for (const p of databasePaths.values()) await p.close();
  };
  const started = await startTestStack({
    databasePrefix: 'otesse_chaos',
    rewriteDatabaseUrl: (s, url) => databasePaths.get(s)?.via(url) ?? url,
    natsConfigFile: NATS_CONFIG_FILE,
    tmpPrefix: 'otesse-chaos-',
    stack: {
      edgePort,
      dashboardUrl: CHAOS_DASHBOARD_URL,
      logLevel: opts.logLevel ?? 'warn',
      replicas: opts.replicas ?? 1,
      readyTimeoutMs: 180_000,
      envFor: (s, replica) => ({
        NATS_USER: NATS_DEV_USERS[s].user,
        NATS_PASSWORD: NATS_DEV_USERS[s].password,
        ...(s === 'edge'
          ? {
              SAGA_LEASE_MS: leaseMs,
              SAGA_RECOVERY_INTERVAL_MS: '250',
              // Ended sagas' idempotency records released while the faults go on (invariants check it).
              SAGA_RECORD_RETENTION_MS: '2000',
              SAGA_RECORD_RELEASE_INTERVAL_MS: '500',
              // Every chaos client comes from 127.0.0.1: the per-IP limits are not what this exercises.
              RATE_LIMIT_OAUTH: '1000000',
              RATE_LIMIT_TOKEN: '10000000',
              // A killed callback's staged tokens are the vault's to revoke within the settling time.
              EDGE_TOKEN_STAGE_HOLD_SEC: '30',
              ...(opts.sharedPublicUrl ? { EDGE_PUBLIC_URL: `http://127.0.0.1:${edgePort}` } : {}),
            }
          : {}),
        // Connects an edge killed mid-callback left pending are swept within the settling time.
        ...(s === 'connection'
          ? { PENDING_CONNECT_SWEEP_MS: '1000', PENDING_CONNECT_STALE_MS: '20000' }
          : {}),
        // What a killed vault left of an abandoned connect's discard is swept within the settling time too.
        ...(s === 'credential-vault'
          ? { VAULT_DISCARD_SWEEP_MS: '1000', VAULT_DISCARD_STALE_MS: '5000' }
          : {}),
        ...opts.envFor?.(s, replica),
      }),
    },
  }).catch(async (e: unknown) => {
    await closePaths();
    throw e;
  });
  const { db, nats, fake, stack } = started;
  const close = async (): Promise<void> => {
    await started.close();
    await closePaths();
  };
  let nc: NatsConnection | undefined;
  try {
    const roles = [
      ...Array.from({ length: opts.users }, () => 'member' as const),
      ...Array.from({ length: opts.admins ?? 0 }, () => 'admin' as const),
    ];
    const { orgId, users } = await seedOrg(identity, db, {
      name: 'Chaos',
      users: roles.map((role, i) => ({ email: `${role}${i}@chaos.test`, role })),
    });
    nc = await connect({
      servers: nats.url,
      user: 'probe',
      pass: 'probe',
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    const probe = nc;
    return {
      db,
      nats,
      nc: probe,
      fake,
      stack,
      databasePaths,
      orgId,
      users,
      close: async () => {
        await probe.close().catch(() => undefined);
        await close();
      },
    };
  } catch (e) {
    await nc?.close().catch(() => undefined);
    await close();
    throw e;
  }
}
