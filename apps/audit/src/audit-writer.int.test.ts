import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { NatsConnection } from 'nats';
import pg from 'pg';
import type { TAuditEventInput } from '@otesse/contracts';
import { EventPublisher } from '@otesse/messaging';
import { createLogger } from '@otesse/logging';
import { openOrm } from '@otesse/persistence';
import { startDatabaseProxy, waitFor, type TTcpProxy, type TTestDatabase } from '@otesse/testing';
import { migrateAudit } from './audit.service';
import {
  AUDIT_DURABLE,
  AUDIT_STREAM,
  startAuditWriter,
  type TAuditWriter,
  type TAuditWriterOptions,
} from './audit-writer';
import { auditOrmConfig } from './db/orm.config';
import { verifyChain } from './handlers/verify-chain.handler';
import {
  auditConsumerInfo,
  publishEntries,
  readEntries,
  startAuditBackend,
  type TAuditBackend,
} from './test/audit-test-bed';

/** Every line the writer logs, parsed (and echoed when TEST_LOG_LEVEL asks for it). */
const lines: { level: string; msg: string }[] = [];
const logger = createLogger({
  name: 'audit-writer-test',
  level: 'debug',
  destination: {
    write: (s: string) => {
      lines.push(JSON.parse(s) as { level: string; msg: string });
      if (process.env['TEST_LOG_LEVEL']) process.stdout.write(s);
    },
  },
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The writer itself (startAuditWriter), on its own ORM, against a real Postgres and a private nats-server. */
describe('audit writer under a stalled or unreachable database (real Postgres + NATS)', () => {
  // The writer runs alone, on its own ORM and logger: the bed without the service.
  let bed: TAuditBackend;
  let db: TTestDatabase;
  let nc: NatsConnection;
  let pub: EventPublisher;
  let orm: MikroORM;
  const opened: { close(force?: boolean): Promise<void> }[] = [];
  let writer: TAuditWriter | undefined;

  beforeAll(async () => {
    bed = await startAuditBackend('audit-writer-test');
    ({ db, nc } = bed);
    pub = new EventPublisher(nc);
    await migrateAudit({
      databaseUrl: db.urlFor('audit'),
      migrationsDatabaseUrl: db.migrationsUrlFor('audit'),
    });
    orm = await openOrm({ ...auditOrmConfig(db.urlFor('audit')), logger });
    opened.push(orm);
  });
  afterEach(async () => {
    await writer?.stop();
    writer = undefined;
  });
  afterAll(async () => {
    await writer?.stop();
    for (const o of opened) await o.close(true);
    await bed?.close();
  });

  const start = async (on: MikroORM, opts: TAuditWriterOptions): Promise<TAuditWriter> => {
    writer = await startAuditWriter(nc, on, logger, opts);
    return writer;
  };
  const event = (orgId: string, n: number): TAuditEventInput => ({
    eventId: randomUUID(),
    orgId,
    actorUserId: randomUUID(),
    action: 'connection.connected',
    provider: 'servicenow',
    outcome: 'success',
    details: { n, note: 'x'.repeat(200) },
    occurredAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
  });
  const entriesOf = (orgIds: string[]) => readEntries(db, orgIds);
  const consumerInfo = () => auditConsumerInfo(nc);
  /** Each org's chain holds exactly its events, in publish order, gap-free from 1, and verifies. */
  const expectChains = async (orgIds: string[], events: TAuditEventInput[]): Promise<void> => {
    const rows = await entriesOf(orgIds);
    for (const orgId of orgIds) {
      const mine = rows.filter((r) => r.org_id === orgId);
      const expected = events.filter((e) => e.orgId === orgId).map((e) => e.eventId);
      expect(mine.map((r) => r.event_id)).toEqual(expected);
      expect(mine.map((r) => Number(r.seq))).toEqual(expected.map((_, i) => i + 1));
      expect(await verifyChain(orm, orgId)).toMatchObject({ ok: true, checked: expected.length });
    }
  };
  /** Every message acked, and it stays so: no delivery is still waiting to be redelivered. */
  const expectAllAcked = async (ackWaitMs: number): Promise<void> => {
    await waitFor(async () => ((await consumerInfo()).num_ack_pending === 0 ? true : undefined), {
      what: 'no pending acks',
    });
    const delivered = (await consumerInfo()).delivered.consumer_seq;
    await sleep(ackWaitMs * 2 + 500);
    const after = await consumerInfo();
    expect(after.num_ack_pending).toBe(0);
    expect(after.delivered.consumer_seq).toBe(delivered);
  };
  /** A superuser session that holds the chain heads: every write of the writer waits on it. */
  const holdChainHeads = async (): Promise<{ release(): Promise<void> }> => {
    const holder = new pg.Client({ connectionString: db.adminUrl });
    await holder.connect();
    await holder.query('begin');
    await holder.query('lock table audit.chain_head in access exclusive mode');
    return {
      release: async () => {
        await holder.query('rollback');
        await holder.end();
      },
    };
  };

  it('holds each message once while its write hangs, however often the server redelivers it; writes each once, in order, after', async () => {
    const ackWaitMs = 1_000;
    // keepAliveMs 0: nothing holds the server back, it redelivers every pending message each ack_wait.
    const w = await start(orm, { ackWaitMs, maxAckPending: 50, keepAliveMs: 0 });
    const orgs = [randomUUID(), randomUUID()];
    const events = Array.from({ length: 20 }, (_, i) => event(orgs[i % 2]!, i));
    const lock = await holdChainHeads();
    let sizes: number[] = [];
    let redelivered = 0;
    try {
      const before = await consumerInfo();
      await publishEntries(pub, events);
      await waitFor(
        async () => ((await consumerInfo()).num_ack_pending === events.length ? true : undefined),
        { what: '20 delivered' },
      );
      // Several ack_wait periods with the write hanging: each one redelivers all 20.
      for (let i = 0; i < 10; i++) {
        await sleep(500);
        sizes.push(w.queued);
      }
      const during = await consumerInfo();
      redelivered = during.delivered.consumer_seq - before.delivered.consumer_seq - events.length;
      expect((await entriesOf(orgs)).length).toBe(0);
    } finally {
      await lock.release();
    }
    // The server did redeliver (several times over), yet the writer never held more than the 20 distinct messages.
    expect(redelivered).toBeGreaterThanOrEqual(events.length * 2);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(events.length);
    sizes = [];

    await waitFor(
      async () => ((await entriesOf(orgs)).length === events.length ? true : undefined),
      { timeoutMs: 15_000, what: '20 entries' },
    );
    await expectChains(orgs, events);
    // The acks went to deliveries the server counts: none is pending, nothing is redelivered any more.
    await expectAllAcked(ackWaitMs);
    expect(w.queued).toBe(0);
    expect((await entriesOf(orgs)).length).toBe(events.length);
  });

  it('keeps the messages behind a hanging write from being redelivered at all (working())', async () => {
    const ackWaitMs = 2_000;
    const w = await start(orm, { ackWaitMs, maxAckPending: 50 });
    const orgId = randomUUID();
    const events = Array.from({ length: 10 }, (_, i) => event(orgId, i));
    const lock = await holdChainHeads();
    try {
      const before = await consumerInfo();
      await publishEntries(pub, events);
      await waitFor(() => w.queued === events.length || undefined, { what: '10 held' });
      await sleep(ackWaitMs * 2.5);
      const during = await consumerInfo();
      // Delivered once each: no redelivery in 2.5 ack_waits.
      expect(during.delivered.consumer_seq - before.delivered.consumer_seq).toBe(events.length);
      expect(during.num_ack_pending).toBe(events.length);
      expect(w.queued).toBe(events.length);
    } finally {
      await lock.release();
    }
    await waitFor(
      async () => ((await entriesOf([orgId])).length === events.length ? true : undefined),
      { timeoutMs: 15_000, what: '10 entries' },
    );
    await expectChains([orgId], events);
    await expectAllAcked(ackWaitMs);
  });

  it('backs off as a whole while the database is unreachable (one warning), and writes everything once it is back', async () => {
    const proxy: TTcpProxy = await startDatabaseProxy();
    try {
      const viaProxy = await openOrm({
        ...auditOrmConfig(proxy.via(db.urlFor('audit'))),
        logger,
      });
      opened.push(viaProxy);
      const w = await start(viaProxy, { retryDelayMs: 100 });
      const orgs = [randomUUID(), randomUUID(), randomUUID()];
      const first = event(orgs[0]!, 0);
      await publishEntries(pub, [first]);
      await waitFor(async () => ((await entriesOf(orgs)).length === 1 ? true : undefined));

      proxy.cut();
      const from = lines.length;
      const attemptsBefore = w.writeAttempts;
      const events = Array.from({ length: 30 }, (_, i) => event(orgs[i % 3]!, i + 1));
      await publishEntries(pub, events);
      await sleep(4_000);
      const attempts = w.writeAttempts - attemptsBefore;
      const logged = lines.slice(from);
      // Tries at about 0, 0.5, 1.5 and 3.5 s: one transaction each, not one per message per second.
      expect(attempts).toBeGreaterThanOrEqual(2);
      expect(attempts).toBeLessThanOrEqual(6);
      expect(logged.filter((l) => l.level === 'warn' && /^audit/.test(l.msg))).toEqual([
        expect.objectContaining({
          msg: 'audit database unavailable; writes paused, trying again with back-off',
        }),
      ]);
      expect(w.queued).toBe(events.length);
      expect((await consumerInfo()).num_ack_pending).toBe(events.length);

      proxy.restore();
      await waitFor(
        async () => ((await entriesOf(orgs)).length === events.length + 1 ? true : undefined),
        { timeoutMs: 20_000, what: '31 entries' },
      );
      await expectChains(orgs, [first, ...events]);
      await waitFor(async () => ((await consumerInfo()).num_ack_pending === 0 ? true : undefined));
      expect(w.queued).toBe(0);
      expect(lines.slice(from).map((l) => l.msg)).toContain(
        'audit database reachable again; writes resumed',
      );
    } finally {
      await writer?.stop();
      writer = undefined;
      await proxy.close();
    }
  });

  it('sets its durable up again when an operator deletes it, and writes what comes after (once)', async () => {
    await start(orm, {});
    const orgId = randomUUID();
    const first = [event(orgId, 1)];
    await publishEntries(pub, first);
    await waitFor(async () => ((await entriesOf([orgId])).length === 1 ? true : undefined), {
      what: 'the first entry',
    });
    await (await nc.jetstreamManager()).consumers.delete(AUDIT_STREAM, AUDIT_DURABLE);
    const later = [event(orgId, 2), event(orgId, 3)];
    await publishEntries(pub, later);
    // The new durable reads the stream from its start: the first event again, deduped by its id.
    await waitFor(async () => ((await entriesOf([orgId])).length === 3 ? true : undefined), {
      timeoutMs: 15_000,
      what: 'the entries published after the durable was deleted',
    });
    await expectChains([orgId], [...first, ...later]);
    expect(lines.some((l) => l.msg.includes('setting it up again'))).toBe(true);
  });
});
