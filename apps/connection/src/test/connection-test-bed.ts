import { randomUUID } from 'node:crypto';
import type { NatsConnection } from 'nats';
import type { TRequestInput } from '@otesse/contracts';
import { createLogger } from '@otesse/logging';
import { Bus, connectNats } from '@otesse/messaging';
import {
  createTestDatabase,
  startNatsServer,
  type TTestDatabase,
  type TTestNats,
} from '@otesse/testing';
import type { TRunningService } from '@otesse/runtime';
import { startConnection, type TConnectionConfig } from '../connection.service';

/** The connection service as its tests meet it: a fresh database, a private nats-server, the service, a bus. */
export interface TConnectionTestBed {
  db: TTestDatabase;
  nats: TTestNats;
  nc: NatsConnection;
  bus: Bus;
  svc: TRunningService;
  close(): Promise<void>;
}

export async function startConnectionTestBed(
  name: string,
  cfg: Partial<Omit<TConnectionConfig, 'databaseUrl' | 'natsUrl' | 'logger'>> = {},
): Promise<TConnectionTestBed> {
  const [db, nats] = await Promise.all([createTestDatabase(), startNatsServer()]);
  const nc = await connectNats({ url: nats.url, name: 'test' });
  const svc = await startConnection({
    databaseUrl: db.urlFor('connection'),
    natsUrl: nats.url,
    logger: createLogger({ name, level: process.env['TEST_LOG_LEVEL'] ?? 'silent' }),
    ...cfg,
  });
  return {
    db,
    nats,
    nc,
    bus: new Bus(nc),
    svc,
    close: async () => {
      await svc.stop();
      await nc.close();
      await nats.stop();
      await db.drop();
    },
  };
}

/** A connected connection (create + activate), as the connect flow leaves it. */
export async function connectedConnection(
  bus: Bus,
  create: TRequestInput<'connection.connections.create'>,
) {
  const created = await bus.request('connection.connections.create', create);
  return bus.request('connection.connections.activate', {
    orgId: create.orgId,
    connectionId: created.connection.id,
    eventId: randomUUID(),
  });
}
