import { randomUUID } from 'node:crypto';
import type { NatsConnection } from 'nats';
import { SYNC_RESOURCES, type TSyncResource } from '@otesse/contracts';
import { createLogger } from '@otesse/logging';
import { Bus, connectNats } from '@otesse/messaging';
import {
  createTestDatabase,
  startNatsServer,
  type TTestDatabase,
  type TTestNats,
} from '@otesse/testing';
import {
  startSyncScheduler,
  type TRunningSyncScheduler,
  type TSyncSchedulerConfig,
} from '../sync-scheduler.service';

/** The scheduler as its endpoint tests meet it: a fresh database, a private nats-server, the service, a bus. */
export interface TSyncSchedulerTestBed {
  db: TTestDatabase;
  nats: TTestNats;
  nc: NatsConnection;
  bus: Bus;
  svc: TRunningSyncScheduler;
  close(): Promise<void>;
}

export type TSyncSchedulerTestBedConfig = Partial<
  Omit<TSyncSchedulerConfig, 'databaseUrl' | 'natsUrl' | 'logger'>
> & {
  /** The bus's request timeout; the Bus default (5 s) unless given. */
  busTimeoutMs?: number;
};

export async function startSyncSchedulerTestBed(
  name: string,
  cfg: TSyncSchedulerTestBedConfig = {},
): Promise<TSyncSchedulerTestBed> {
  const { busTimeoutMs, ...overrides } = cfg;
  const [db, nats] = await Promise.all([createTestDatabase(), startNatsServer()]);
  const nc = await connectNats({ url: nats.url, name: 'test' });
  const teardown = async () => {
    await nc.close();
    await nats.stop();
    await db.drop();
  };
  let svc: TRunningSyncScheduler;
  try {
    svc = await startSyncScheduler({
      databaseUrl: db.urlFor('sync-scheduler'),
      natsUrl: nats.url,
      logger: createLogger({ name, level: process.env['TEST_LOG_LEVEL'] ?? 'silent' }),
      ...overrides,
    });
  } catch (e) {
    // No bed for afterAll to close: a failed start must not leave the database and nats-server behind.
    await teardown();
    throw e;
  }
  return {
    db,
    nats,
    nc,
    bus: busTimeoutMs === undefined ? new Bus(nc) : new Bus(nc, { timeoutMs: busTimeoutMs }),
    svc,
    close: async () => {
      await svc.stop();
      await teardown();
    },
  };
}

/** What create-defaults places jobs in: one connection of an instance of an org. */
export interface TJobScope {
  orgId: string;
  instanceId: string;
  connectionId: string;
}

/** create-defaults for a zendesk connection, every resource unless told. */
export const createDefaultJobs = (
  bus: Bus,
  t: TJobScope,
  resources: readonly TSyncResource[] = SYNC_RESOURCES,
) =>
  bus.request('sync-scheduler.jobs.create-defaults', {
    ...t,
    vendor: 'zendesk',
    resources: [...resources],
  });

/** An instance with one new connection's default jobs (and mappings); `orgId`/`instanceId` to reuse existing ones. */
export async function instanceWithDefaultJobs(
  bus: Bus,
  o: { orgId?: string; instanceId?: string; resources?: readonly TSyncResource[] } = {},
) {
  const t = {
    orgId: o.orgId ?? randomUUID(),
    instanceId: o.instanceId ?? randomUUID(),
    connectionId: randomUUID(),
  };
  const { jobs } = await createDefaultJobs(bus, t, o.resources);
  return { ...t, jobs };
}
