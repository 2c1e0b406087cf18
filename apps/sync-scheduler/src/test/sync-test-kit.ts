// Shared by the scheduler's integration tests: real Postgres, a private NATS, the fake provider over HTTP, and the
// vault and connection services as processes (their own main.ts) — the scheduler only ever talks to them over NATS.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import { SYNC_RESOURCES, type TSyncResource } from '@otesse/contracts';
import { createLogger } from '@otesse/logging';
import { Bus, connectNats } from '@otesse/messaging';
import { startFakeProvider, fakeProvidersFile, type TFakeProvider } from '@otesse/fake-provider';
import {
  createTestDatabase,
  startNatsServer,
  startStack,
  waitFor,
  type TStack,
  type TStackService,
  type TTestDatabase,
  type TTestNats,
} from '@otesse/testing';
import type { TSyncEngineConfig } from '../engine/sync-engine';
import { startSyncScheduler, type TRunningSyncScheduler } from '../sync-scheduler.service';

export const testLogger = createLogger({
  name: 'sync-test',
  level: process.env['TEST_LOG_LEVEL'] ?? 'silent',
});

export interface TConnected {
  orgId: string;
  instanceId: string;
  connectionId: string;
  vendor: string;
  accessToken: string;
  refreshToken: string;
}

export interface TExecutionRow {
  id: string;
  job_id: string;
  status: string;
  trigger: string;
  lease_owner: string | null;
  started_at: Date;
  completed_at: Date | null;
  records_fetched: number;
  records_written: number;
  references_upserted: number;
  references_restored: number;
  batches: number;
  takeovers: number;
  cursor: string | null;
  error_reason: string | null;
}

export interface TSyncKit {
  db: TTestDatabase;
  nats: TTestNats;
  fake: TFakeProvider;
  providersFile: string;
  stack: TStack;
  nc: NatsConnection;
  bus: Bus;
  /**
   * A connected connection with a live access token in the vault: app level in its own org and instance, unless an
   * org is given (its instance of the vendor) with a level and user (a user's own connection beside others).
   */
  connect(opts?: {
    vendor?: 'google' | 'zendesk';
    orgId?: string;
    level?: 'app' | 'user';
    userId?: string;
  }): Promise<TConnected & { userId: string }>;
  /** A job of the connection, not due (`nextRunAt` null) unless asked; rows as create-defaults writes them. */
  addJob(
    c: TConnected,
    resource: TSyncResource,
    opts?: { due?: boolean; everySeconds?: number },
  ): Promise<string>;
  executions(jobId: string): Promise<TExecutionRow[]>;
  /** Waits for the job's newest execution to end (not `running`) and returns it. */
  finished(jobId: string, opts?: { after?: number; timeoutMs?: number }): Promise<TExecutionRow>;
  /** Scheduler replicas as processes (SERVICE_INSTANCE_ID = their name), keyed by name. */
  replicas: Map<string, TStack>;
  /** The scheduler in this process, with small ticks and leases. */
  startScheduler(engine?: Partial<TSyncEngineConfig>): Promise<TRunningSyncScheduler>;
  close(): Promise<void>;
}

/** Small ticks and leases for scheduler processes, so crash recovery shows within a test's time. */
export const REPLICA_ENV = {
  SYNC_TICK_MS: '100',
  SYNC_LEASE_MS: '1500',
  SYNC_PAGE_SIZE: '50',
  SYNC_CLAIM_BATCH: '5',
  SYNC_CONCURRENCY: '8',
};

export async function startSyncKit(
  opts: {
    /** Names of scheduler replicas to start as processes, next to the vault and the connection service. */
    replicas?: string[];
  } = {},
): Promise<TSyncKit> {
  const [db, nats, fake] = await Promise.all([
    createTestDatabase(),
    startNatsServer(),
    startFakeProvider({ port: 0 }),
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'otesse-sync-'));
  const providersFile = join(dir, 'providers.json');
  // The fake provider serves every resource to every tenant: let Google's jobs sync all three.
  const file = fakeProvidersFile(fake.url);
  for (const p of file.providers) {
    if (p['key'] === 'google')
      p['dataApi'] = { ...(p['dataApi'] as object), resources: [...SYNC_RESOURCES] };
  }
  writeFileSync(providersFile, JSON.stringify(file));
  const base = {
    databaseUrlFor: (s: TStackService) => db.urlFor(s),
    natsUrl: nats.url,
    providersFile,
  };
  // All processes start together: each spends most of its start-up compiling TypeScript.
  const [stack, ...replicaStacks] = await Promise.all([
    startStack(base, ['credential-vault', 'connection']),
    ...(opts.replicas ?? []).map((name) =>
      startStack({ ...base, envFor: () => ({ ...REPLICA_ENV, SERVICE_INSTANCE_ID: name }) }, [
        'sync-scheduler',
      ]),
    ),
  ]);
  const replicas = new Map(
    (opts.replicas ?? []).map((name, i) => [name, replicaStacks[i] as TStack]),
  );
  const nc = await connectNats({ url: nats.url, name: 'sync-test' });
  const bus = new Bus(nc, { timeoutMs: 10_000 });
  const schedulers: TRunningSyncScheduler[] = [];

  const connect: TSyncKit['connect'] = async (o = {}) => {
    const vendor = o.vendor ?? 'google';
    const orgId = o.orgId ?? randomUUID();
    const userId = o.userId ?? randomUUID();
    const subdomain = vendor === 'zendesk' ? 'acme' : undefined;
    if (subdomain && !o.orgId) {
      await bus.request('connection.instances.configure', { orgId, vendor, config: { subdomain } });
    }
    const { connection, instance } = await bus.request('connection.connections.create', {
      orgId,
      vendor,
      level: o.level ?? 'app',
      userId,
      externalAccountId: 'u-alice',
      tenantId: 'acme',
    });
    const user = fake.state.findUser('u-alice');
    if (!user) throw new Error('the fake provider has no u-alice');
    const { access, refresh } = fake.state.issueTokens({
      clientId: `otesse-dev-${vendor}`,
      user,
      instance: subdomain,
      scope: 'read',
      familyId: randomUUID(),
    });
    await bus.request('vault.credentials.store', {
      orgId,
      connectionId: connection.id,
      vendor,
      credentials: [
        {
          kind: 'access_token',
          value: access.token,
          expiresAt: new Date(access.expiresAt).toISOString(),
        },
        { kind: 'refresh_token', value: refresh.token, expiresAt: null },
      ],
    });
    await bus.request('connection.connections.activate', {
      orgId,
      connectionId: connection.id,
      eventId: randomUUID(),
    });
    return {
      orgId,
      instanceId: instance.id,
      connectionId: connection.id,
      vendor,
      userId,
      accessToken: access.token,
      refreshToken: refresh.token,
    };
  };

  const addJob: TSyncKit['addJob'] = async (c, resource, o = {}) => {
    const [row] = await db.query<{ id: string }>(
      `insert into sync.sync_job (org_id, instance_id, connection_id, vendor, resource, schedule, next_run_at)
       values ($1, $2, $3, $4, $5, $6, case when $7 then now() end) returning id`,
      [
        c.orgId,
        c.instanceId,
        c.connectionId,
        c.vendor,
        resource,
        JSON.stringify({ kind: 'interval', everySeconds: o.everySeconds ?? 3_600 }),
        o.due === true,
      ],
    );
    return row!.id;
  };

  const executions: TSyncKit['executions'] = (jobId) =>
    db.query<TExecutionRow>(
      `select * from sync.sync_execution where job_id = $1 order by started_at, id`,
      [jobId],
    );

  return {
    db,
    nats,
    fake,
    providersFile,
    stack: stack as TStack,
    replicas,
    nc,
    bus,
    connect,
    addJob,
    executions,
    finished: (jobId, o = {}) =>
      waitFor(
        async () => {
          const all = await executions(jobId);
          const last = all[all.length - 1];
          return all.length > (o.after ?? 0) && last && last.status !== 'running'
            ? last
            : undefined;
        },
        {
          timeoutMs: o.timeoutMs ?? 15_000,
          intervalMs: 25,
          what: `an execution of ${jobId} to end`,
        },
      ),
    startScheduler: async (engine = {}) => {
      const svc = await startSyncScheduler({
        databaseUrl: db.urlFor('sync-scheduler'),
        natsUrl: nats.url,
        logger: testLogger,
        providersFile,
        engine: { tickMs: 50, leaseMs: 2_000, pageSize: 20, concurrency: 4, ...engine },
      });
      schedulers.push(svc);
      return svc;
    },
    close: async () => {
      for (const s of schedulers) await s.stop().catch(() => undefined);
      await nc.close().catch(() => undefined);
      await Promise.all([...replicas.values()].map((r) => r.stop()));
      await stack?.stop();
      await fake.close();
      await nats.stop();
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
