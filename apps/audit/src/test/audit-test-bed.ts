import type { NatsConnection } from 'nats';
import type { TAuditEventInput } from '@otesse/contracts';
import { createLogger } from '@otesse/logging';
import { Bus, connectNats, ensureStreams, type EventPublisher } from '@otesse/messaging';
import {
  createTestDatabase,
  startNatsServer,
  waitFor,
  type TTestDatabase,
  type TTestNats,
} from '@otesse/testing';
import type { TRunningService } from '@otesse/runtime';
import { startAudit, type TAuditConfig } from '../audit.service';
import { AUDIT_DURABLE, AUDIT_STREAM } from '../audit-writer';

/** What a test sets of the service's config: the bed supplies the database, NATS and the logger. */
export type TAuditTestConfig = Partial<Omit<TAuditConfig, 'databaseUrl' | 'natsUrl' | 'logger'>>;

/**
 * A fresh database and a private nats-server with the AUDIT stream, the service not started yet: for tests that
 * publish while it is down, stop and start it again, or run the writer on its own.
 */
export interface TAuditBackend {
  db: TTestDatabase;
  nats: TTestNats;
  nc: NatsConnection;
  bus: Bus;
  /** The audit service on this database and nats-server; the caller stops it. */
  startService(cfg?: TAuditTestConfig): Promise<TRunningService>;
  close(): Promise<void>;
}

/** The audit service as most of its tests meet it: the backend with the service running on it. */
export interface TAuditTestBed extends TAuditBackend {
  svc: TRunningService;
}

export async function startAuditBackend(name: string): Promise<TAuditBackend> {
  const [db, nats] = await Promise.all([createTestDatabase(), startNatsServer()]);
  let nc: NatsConnection | undefined;
  const close = async (): Promise<void> => {
    await nc?.close();
    await nats.stop();
    await db.drop();
  };
  try {
    nc = await connectNats({ url: nats.url, name: 'test' });
    // Created before any service starts, so what is published while it is down is kept for it.
    await ensureStreams(nc, ['AUDIT']);
  } catch (e) {
    await close().catch(() => undefined);
    throw e;
  }
  const logger = createLogger({ name, level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
  return {
    db,
    nats,
    nc,
    bus: new Bus(nc, { timeoutMs: 10_000 }),
    startService: (cfg = {}) =>
      startAudit({ databaseUrl: db.urlFor('audit'), natsUrl: nats.url, logger, ...cfg }),
    close,
  };
}

export async function startAuditTestBed(
  name: string,
  cfg: TAuditTestConfig = {},
): Promise<TAuditTestBed> {
  const backend = await startAuditBackend(name);
  let svc: TRunningService;
  try {
    svc = await backend.startService(cfg);
  } catch (e) {
    await backend.close().catch(() => undefined);
    throw e;
  }
  return {
    ...backend,
    svc,
    close: async () => {
      // A no-op when the test stopped it already (stop is idempotent).
      await svc.stop();
      await backend.close();
    },
  };
}

/** Publishes events as a producer does: the event id is the msgID, so JetStream drops a repeat. */
export async function publishEntries(
  pub: EventPublisher,
  events: readonly TAuditEventInput[],
): Promise<void> {
  for (const e of events) await pub.publish('audit.entries.append', e, { msgId: e.eventId });
}

/** The stored entries of these orgs, each org's in chain order. */
export function readEntries(db: TTestDatabase, orgIds: readonly string[]) {
  return db.query<{ org_id: string; seq: string; event_id: string }>(
    'select org_id, seq, event_id from audit.audit_entry where org_id = any($1::uuid[]) order by org_id, seq',
    [orgIds],
  );
}

/** Waits until exactly `n` entries of these orgs are stored (the writer is asynchronous). */
export async function waitForEntries(
  db: TTestDatabase,
  orgIds: readonly string[],
  n: number,
  opts: { timeoutMs?: number; what?: string } = {},
): Promise<void> {
  await waitFor(
    async () => {
      const [r] = await db.query<{ n: string }>(
        'select count(*) as n from audit.audit_entry where org_id = any($1::uuid[])',
        [orgIds],
      );
      return Number(r?.n) === n ? true : undefined;
    },
    { what: `${n} entries`, ...opts },
  );
}

/** The writer's durable consumer as the server sees it (delivered, pending, redelivered). */
export async function auditConsumerInfo(nc: NatsConnection) {
  return (await nc.jetstreamManager()).consumers.info(AUDIT_STREAM, AUDIT_DURABLE);
}
