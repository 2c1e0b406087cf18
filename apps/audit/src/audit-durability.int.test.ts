import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import pg from 'pg';
import type { TAuditEventInput } from '@otesse/contracts';
import { encodeJson, EventPublisher, type Bus } from '@otesse/messaging';
import { waitFor, type TTestDatabase } from '@otesse/testing';
import type { TRunningService } from '@otesse/runtime';
import type { TAuditConfig } from './audit.service';
import {
  auditConsumerInfo,
  publishEntries,
  readEntries,
  startAuditBackend,
  waitForEntries,
  type TAuditBackend,
} from './test/audit-test-bed';

/** Issue 3 done-when 1 and 2: nothing published is lost while the service is down, nothing is written twice. */
describe('audit writer durability (real Postgres + NATS)', () => {
  // The service is stopped and started again by the tests: the bed without it.
  let bed: TAuditBackend;
  let db: TTestDatabase;
  let nc: NatsConnection;
  let bus: Bus;
  let pub: EventPublisher;
  let svc: TRunningService | undefined;

  const start = async (writer: TAuditConfig['writer'] = {}): Promise<void> => {
    svc = await bed.startService({
      migrationsDatabaseUrl: db.migrationsUrlFor('audit'),
      writer: { retryDelayMs: 200, ...writer },
    });
  };
  const stop = async (): Promise<void> => {
    await svc?.stop();
    svc = undefined;
  };

  beforeAll(async () => {
    bed = await startAuditBackend('audit-durability-test');
    ({ db, nc, bus } = bed);
    pub = new EventPublisher(nc);
  });
  afterAll(async () => {
    await stop();
    await bed?.close();
  });

  const event = (orgId: string, n: number, over: Partial<TAuditEventInput> = {}) => ({
    eventId: randomUUID(),
    orgId,
    actorUserId: randomUUID(),
    onBehalfOfUserId: randomUUID(),
    action: 'connection.disconnected' as const,
    provider: 'servicenow',
    targets: { instanceId: randomUUID(), connectionId: randomUUID(), sagaId: randomUUID() },
    outcome: 'success' as const,
    details: {
      n,
      revocationSucceeded: n % 2 === 0,
      syncJobsDisabled: n % 4,
      credentialsDeleted: 2,
      warnings: n % 3 === 0 ? ['revocation endpoint timed out'] : [],
    },
    occurredAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
    ip: '203.0.113.7',
    traceId: randomUUID().replaceAll('-', ''),
    ...over,
  });
  const entriesOf = (orgId: string) => readEntries(db, [orgId]);
  const countOf = async (eventId: string): Promise<number> =>
    Number(
      (
        await db.query<{ n: string }>(
          'select count(*) as n from audit.audit_entry where event_id = $1',
          [eventId],
        )
      )[0]?.n,
    );
  const consumerInfo = () => auditConsumerInfo(nc);

  it('writes the 100 events published while it was stopped when it comes back: each once, chains intact', async () => {
    await start();
    await stop();
    const orgs = [randomUUID(), randomUUID(), randomUUID()];
    const events = Array.from({ length: 100 }, (_, i) => event(orgs[i % 3]!, i));
    for (const e of events) {
      expect((await pub.publish('audit.entries.append', e, { msgId: e.eventId })).duplicate).toBe(
        false,
      );
    }
    // A producer retrying its publish: JetStream drops it by msgID.
    const again = await pub.publish('audit.entries.append', events[5]!, {
      msgId: events[5]!.eventId,
    });
    expect(again.duplicate).toBe(true);

    await start();
    await waitForEntries(db, orgs, 100, { timeoutMs: 15_000 });
    for (const [k, orgId] of orgs.entries()) {
      const rows = await entriesOf(orgId);
      const expected = events.filter((_, i) => i % 3 === k).map((e) => e.eventId);
      // In publish order, gap-free from 1, none twice.
      expect(rows.map((r) => r.event_id)).toEqual(expected);
      expect(rows.map((r) => Number(r.seq))).toEqual(expected.map((_, i) => i + 1));
      expect(await bus.request('audit.chain.verify', { orgId })).toEqual({
        ok: true,
        checked: expected.length,
        firstBrokenSeq: null,
        reason: null,
      });
    }
    // Every message was acknowledged: nothing is waiting for redelivery.
    await waitFor(async () => ((await consumerInfo()).num_ack_pending === 0 ? true : undefined));
  });

  it('keeps every field of the entry (actor, owner, targets, details, IP, trace id)', async () => {
    const orgId = randomUUID();
    const e = event(orgId, 7);
    await publishEntries(pub, [e]);
    const { entries } = await waitFor(async () => {
      const page = await bus.request('audit.entries.list', { orgId });
      return page.entries.length === 1 ? page : undefined;
    });
    expect(entries[0]).toMatchObject({
      seq: 1,
      prevHash: null,
      eventId: e.eventId,
      orgId,
      actorUserId: e.actorUserId,
      onBehalfOfUserId: e.onBehalfOfUserId,
      action: 'connection.disconnected',
      provider: 'servicenow',
      targets: e.targets,
      outcome: 'success',
      details: e.details,
      occurredAt: e.occurredAt,
      ip: '203.0.113.7',
      traceId: e.traceId,
    });
  });

  it('writes an event once when the same event id is published again under another msgID', async () => {
    const orgId = randomUUID();
    const e = event(orgId, 1);
    await publishEntries(pub, [e]);
    // Outside JetStream's dedupe window (or a producer that lost its msgID): the stream holds it twice.
    const second = await pub.publish('audit.entries.append', e, { msgId: randomUUID() });
    expect(second.duplicate).toBe(false);
    const marker = event(orgId, 2);
    await publishEntries(pub, [marker]);
    await waitFor(async () => ((await countOf(marker.eventId)) === 1 ? true : undefined));
    expect(await countOf(e.eventId)).toBe(1);
    expect((await entriesOf(orgId)).map((r) => r.event_id)).toEqual([e.eventId, marker.eventId]);
  });

  it('writes an event once after its first delivery failed (redelivered after a nak)', async () => {
    const orgId = randomUUID();
    const before = (await consumerInfo()).num_redelivered;
    // The database refuses the writer once: its insert fails and the message is nak'd.
    await db.query('revoke insert on audit.audit_entry from otesse_audit');
    const e = event(orgId, 1);
    try {
      await publishEntries(pub, [e]);
      await waitFor(
        async () => ((await consumerInfo()).num_redelivered > before ? true : undefined),
        { timeoutMs: 10_000, what: 'a redelivery' },
      );
      expect(await countOf(e.eventId)).toBe(0);
    } finally {
      await db.query('grant insert on audit.audit_entry to otesse_audit');
    }
    await waitFor(async () => ((await countOf(e.eventId)) === 1 ? true : undefined));
    await waitFor(async () => ((await consumerInfo()).num_ack_pending === 0 ? true : undefined));
    expect(await countOf(e.eventId)).toBe(1);
    expect(await bus.request('audit.chain.verify', { orgId })).toMatchObject({ ok: true });
  });

  it('writes an event once when it is redelivered because its first write outlived ack_wait', async () => {
    await stop();
    // keepAliveMs 0: the writer does not hold the server back with working(), so the message is redelivered.
    await start({ ackWaitMs: 1_000, keepAliveMs: 0 });
    const orgId = randomUUID();
    const before = (await consumerInfo()).num_redelivered;
    await db.query(`insert into audit.chain_head (org_id, seq, hash) values ($1, 0, '')`, [orgId]);
    // A superuser session holds the org's chain head: the writer's first attempt waits past ack_wait.
    const holder = new pg.Client({ connectionString: db.adminUrl });
    await holder.connect();
    const e = event(orgId, 1);
    try {
      await holder.query('begin');
      await holder.query('select * from audit.chain_head where org_id = $1 for update', [orgId]);
      await publishEntries(pub, [e]);
      await waitFor(
        async () => ((await consumerInfo()).num_redelivered > before ? true : undefined),
        { timeoutMs: 10_000, what: 'a redelivery' },
      );
    } finally {
      await holder.query('rollback');
      await holder.end();
    }
    await waitFor(async () => ((await countOf(e.eventId)) === 1 ? true : undefined));
    await waitFor(async () => ((await consumerInfo()).num_ack_pending === 0 ? true : undefined));
    expect(await countOf(e.eventId)).toBe(1);
    await stop();
    await start();
  });

  it('never writes an event with a secret in it, and goes on with the next ones', async () => {
    const orgId = randomUUID();
    const token = `gho_${'a1B2c3D4'.repeat(5)}`;
    const bad = event(orgId, 1, { details: { refreshToken: 'x' } });
    const badValue = event(orgId, 2, { details: { note: token } });
    // Published raw (the EventPublisher would refuse them): the writer is the last line.
    const js = nc.jetstream();
    await js.publish('audit.entries.append', encodeJson(bad), { msgID: bad.eventId });
    await js.publish('audit.entries.append', encodeJson(badValue), { msgID: badValue.eventId });
    await js.publish('audit.entries.append', new TextEncoder().encode('{not json'));
    const good = event(orgId, 3);
    await publishEntries(pub, [good]);
    await waitFor(async () => ((await countOf(good.eventId)) === 1 ? true : undefined));
    expect((await entriesOf(orgId)).map((r) => r.event_id)).toEqual([good.eventId]);
    const dump = await db.query<{ row: string }>(
      'select row_to_json(a)::text as row from audit.audit_entry a',
    );
    expect(dump.some((r) => r.row.includes(token) || r.row.includes('refreshToken'))).toBe(false);
    await waitFor(async () => ((await consumerInfo()).num_ack_pending === 0 ? true : undefined));
  });
});
