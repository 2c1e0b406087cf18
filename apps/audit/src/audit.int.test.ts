import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import { Bus, EventPublisher } from '@otesse/messaging';
import { waitFor, type TTestDatabase } from '@otesse/testing';
import type { TRunningService } from '@otesse/runtime';
import {
  publishEntries,
  startAuditBackend,
  waitForEntries,
  type TAuditBackend,
} from './test/audit-test-bed';

describe('audit service (real Postgres + NATS)', () => {
  // The first test publishes before the service starts: the bed without it.
  let bed: TAuditBackend;
  let db: TTestDatabase;
  let nc: NatsConnection;
  let svc: TRunningService | undefined;

  beforeAll(async () => {
    bed = await startAuditBackend('audit-test');
    ({ db, nc } = bed);
  });
  afterAll(async () => {
    await svc?.stop();
    await bed?.close();
  });

  const event = (orgId: string, n: number) => ({
    eventId: randomUUID(),
    orgId,
    actorUserId: randomUUID(),
    action: 'connection.connected' as const,
    provider: 'servicenow',
    outcome: 'success' as const,
    details: { n },
    occurredAt: new Date().toISOString(),
  });

  it('writes events published while it was down, once each, in one chain', async () => {
    const orgId = randomUUID();
    const pub = new EventPublisher(nc);
    const events = Array.from({ length: 20 }, (_, i) => event(orgId, i));
    await publishEntries(pub, events);
    // Duplicate publish of the first: JetStream drops it by msgID.
    await pub.publish('audit.entries.append', events[0]!, { msgId: events[0]!.eventId });

    svc = await bed.startService();
    const rows = await waitFor(async () => {
      const r = await db.query<{ seq: string; prev_hash: string | null; hash: string }>(
        'select seq, prev_hash, hash from audit.audit_entry where org_id = $1 order by seq',
        [orgId],
      );
      return r.length === 20 ? r : undefined;
    });
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.prev_hash).toBe(rows[i - 1]!.hash);

    const bus = new Bus(nc);
    const page1 = await bus.request('audit.entries.list', { orgId, limit: 15 });
    expect(page1.entries).toHaveLength(15);
    expect(page1.entries[0]!.seq).toBe(20);
    const page2 = await bus.request('audit.entries.list', {
      orgId,
      limit: 15,
      cursor: page1.nextCursor,
    });
    expect(page2.entries.map((e) => e.seq)).toEqual([5, 4, 3, 2, 1]);
    expect(page2.nextCursor).toBeNull();
  });

  it('lists from a time on, with the entries a producer dated ahead of their neighbours, page after page', async () => {
    const orgId = randomUUID();
    const pub = new EventPublisher(nc);
    const t0 = Date.UTC(2026, 0, 1);
    const at = (e: ReturnType<typeof event>, ms: number) => ({
      ...e,
      occurredAt: new Date(t0 + ms).toISOString(),
    });
    // Three entries from a producer whose clock ran a day ahead, written first; then a hundred, a minute apart.
    const events = [
      ...Array.from({ length: 3 }, (_, i) => at(event(orgId, i), 86_400_000)),
      ...Array.from({ length: 100 }, (_, i) => at(event(orgId, 3 + i), i * 60_000)),
    ];
    await publishEntries(pub, events);
    await waitForEntries(db, [orgId], events.length);
    const bus = new Bus(nc);
    const from = new Date(t0 + 90 * 60_000).toISOString();
    // The ten newest and the three dated ahead: seq 94–103 (minutes 90–99), then 3, 2, 1.
    const expected = [...Array.from({ length: 10 }, (_, i) => 103 - i), 3, 2, 1];
    for (const limit of [4, 13, 50]) {
      const seqs: number[] = [];
      let cursor: string | null = null;
      do {
        const page: Awaited<ReturnType<typeof bus.request<'audit.entries.list'>>> =
          await bus.request('audit.entries.list', { orgId, limit, cursor, filters: { from } });
        seqs.push(...page.entries.map((e) => e.seq));
        cursor = page.nextCursor;
      } while (cursor);
      expect(seqs, `limit ${limit}`).toEqual(expected);
    }
  });
});
