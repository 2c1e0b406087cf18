import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TAuditEntry, TAuditEventInput } from '@otesse/contracts';
import { EventPublisher } from '@otesse/messaging';
import { waitFor } from '@otesse/testing';
import { startHarness, trpcErrorOf, type THarness } from './e2e-harness';

type TSeed = TAuditEventInput & { eventId: string; occurredAt: string };

/** Issue 3 done-when 4: the audit log through the edge, as the dashboard reads it. */
describe('audit log through the edge (audit + edge as processes, real Postgres/NATS)', () => {
  let h: THarness;
  let pub: EventPublisher;
  const seeded: TSeed[] = [];
  const otherSeeded: TSeed[] = [];
  const actors = [randomUUID(), randomUUID()];
  const actions = ['connection.connected', 'connection.disconnected', 'sync_job.disabled'] as const;
  const providers = ['servicenow', 'postmark'];
  const t0 = Date.UTC(2026, 0, 1);

  const event = (orgId: string, i: number): TSeed => ({
    eventId: randomUUID(),
    orgId,
    actorUserId: actors[i % 2]!,
    action: actions[i % 3]!,
    provider: providers[i % 2 === 0 ? 0 : 1]!,
    targets: { connectionId: randomUUID() },
    outcome: 'success',
    details: { i },
    occurredAt: new Date(t0 + i * 60_000).toISOString(),
  });
  const publish = async (events: TSeed[]): Promise<void> => {
    for (const e of events) await pub.publish('audit.entries.append', e, { msgId: e.eventId });
  };
  const countIn = async (orgId: string): Promise<number> =>
    Number(
      (
        await h.db.query<{ n: string }>(
          'select count(*) as n from audit.audit_entry where org_id = $1',
          [orgId],
        )
      )[0]?.n,
    );
  const waitForCount = (orgId: string, n: number) =>
    waitFor(async () => ((await countIn(orgId)) === n ? true : undefined), {
      timeoutMs: 15_000,
      what: `${n} entries`,
    });

  beforeAll(async () => {
    h = await startHarness({ services: ['audit', 'edge'] });
    pub = new EventPublisher(h.nc);
    seeded.push(...Array.from({ length: 60 }, (_, i) => event(h.orgId, i)));
    otherSeeded.push(...Array.from({ length: 10 }, (_, i) => event(h.otherOrgId, i)));
    await publish([...seeded, ...otherSeeded]);
    await waitForCount(h.orgId, 60);
    await waitForCount(h.otherOrgId, 10);
  });
  afterAll(async () => {
    await h?.close();
  });

  /** Every entry matching `filters`, paging with `limit`. */
  const listAll = async (
    filters: Record<string, string>,
    limit = 25,
    client = h.admin.client,
  ): Promise<TAuditEntry[]> => {
    const out: TAuditEntry[] = [];
    let cursor: string | null = null;
    do {
      const page: { entries: TAuditEntry[]; nextCursor: string | null } =
        await client.audit.list.query({ filters, cursor, limit });
      out.push(...page.entries);
      cursor = page.nextCursor;
    } while (cursor);
    return out;
  };

  it('lists the org’s entries newest first, each with its content', async () => {
    const { entries, nextCursor } = await h.viewer.client.audit.list.query({ limit: 10 });
    expect(entries.map((e) => e.seq)).toEqual([60, 59, 58, 57, 56, 55, 54, 53, 52, 51]);
    expect(nextCursor).not.toBeNull();
    const newest = seeded[59]!;
    expect(entries[0]).toMatchObject({
      eventId: newest.eventId,
      orgId: h.orgId,
      actorUserId: newest.actorUserId,
      action: newest.action,
      provider: newest.provider,
      targets: newest.targets,
      details: newest.details,
      occurredAt: newest.occurredAt,
    });
  });

  it('filters by action, provider, actor and time range (and their combination)', async () => {
    const ids = (es: { eventId: string }[]) => es.map((e) => e.eventId).sort();
    const expectFilter = async (filters: Record<string, string>, keep: (e: TSeed) => boolean) => {
      const got = await listAll(filters, 7);
      expect(got.length).toBeGreaterThan(0);
      expect(ids(got)).toEqual(ids(seeded.filter(keep)));
    };
    await expectFilter(
      { action: 'connection.disconnected' },
      (e) => e.action === 'connection.disconnected',
    );
    await expectFilter({ provider: 'postmark' }, (e) => e.provider === 'postmark');
    await expectFilter({ actorUserId: actors[1]! }, (e) => e.actorUserId === actors[1]);
    const from = new Date(t0 + 10 * 60_000).toISOString();
    const to = new Date(t0 + 20 * 60_000).toISOString();
    await expectFilter({ from, to }, (e) => e.occurredAt >= from && e.occurredAt < to);
    await expectFilter(
      { action: 'sync_job.disabled', provider: 'servicenow', from },
      (e) =>
        e.action === 'sync_job.disabled' && e.provider === 'servicenow' && e.occurredAt >= from,
    );
    expect(await listAll({ provider: 'confluence' })).toEqual([]);
  });

  it('pages without duplicates or gaps while new entries keep arriving', async () => {
    let total = await countIn(h.orgId);
    const first = await h.admin.client.audit.list.query({ limit: 9 });
    const top = first.entries[0]!.seq;
    expect(top).toBe(total);
    const seen = [...first.entries];
    let cursor = first.nextCursor;
    // A producer publishing the whole time, and, between pages, entries known to be committed.
    let producing = true;
    const background = (async () => {
      let i = 1_000;
      while (producing) await publish([event(h.orgId, i++)]);
    })();
    try {
      while (cursor) {
        const extra = Array.from({ length: 3 }, (_, k) => event(h.orgId, 500 + seen.length + k));
        await publish(extra);
        await waitFor(async () => {
          const n = await countIn(h.orgId);
          return n >= total + 3 ? n : undefined;
        }).then((n) => (total = n));
        const page = await h.admin.client.audit.list.query({ limit: 9, cursor });
        seen.push(...page.entries);
        cursor = page.nextCursor;
      }
    } finally {
      producing = false;
      await background;
    }
    const seqs = seen.map((e) => e.seq);
    // Exactly the entries that existed at the first page, newest first, each once.
    expect(seqs).toEqual(Array.from({ length: top }, (_, i) => top - i));
    expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);
    expect(await countIn(h.orgId)).toBeGreaterThan(top);
  });

  it('never shows another org’s entries', async () => {
    const mine = await listAll({});
    expect(mine.every((e) => e.orgId === h.orgId)).toBe(true);
    const theirs = await listAll({}, 25, h.otherAdmin.client);
    expect(theirs.map((e) => e.eventId).sort()).toEqual(otherSeeded.map((e) => e.eventId).sort());
    // A cursor is a position, never a key into another org's log.
    const { nextCursor } = await h.admin.client.audit.list.query({ limit: 5 });
    const viaCursor = await h.otherAdmin.client.audit.list.query({ cursor: nextCursor, limit: 50 });
    expect(viaCursor.entries.every((e) => e.orgId === h.otherOrgId)).toBe(true);
    // Filters naming the other org's actor find nothing.
    expect(await listAll({ actorUserId: randomUUID() })).toEqual([]);
  });

  it('refuses a member without settings.view (FORBIDDEN) and an anonymous caller (UNAUTHORIZED)', async () => {
    expect((await trpcErrorOf(h.member.client.audit.list.query({}))).code).toBe('FORBIDDEN');
    expect((await trpcErrorOf(h.member.client.audit.verify.query())).code).toBe('FORBIDDEN');
    expect((await trpcErrorOf(h.anonymous.audit.list.query({}))).code).toBe('UNAUTHORIZED');
    expect((await trpcErrorOf(h.anonymous.audit.verify.query())).code).toBe('UNAUTHORIZED');
    expect(
      (await trpcErrorOf(h.admin.client.audit.list.query({ cursor: 'not-a-cursor' }))).code,
    ).toBe('BAD_REQUEST');
  });

  it('verifies the org’s chain, and reports where a superuser edited it', async () => {
    const mine = await h.viewer.client.audit.verify.query();
    expect(mine).toEqual({
      ok: true,
      checked: await countIn(h.orgId),
      firstBrokenSeq: null,
      reason: null,
    });
    await h.db.query(
      `begin; set local session_replication_role = replica;
       update audit.audit_entry set actor_user_id = '${randomUUID()}' where org_id = '${h.otherOrgId}' and seq = 4;
       commit;`,
    );
    expect(await h.otherAdmin.client.audit.verify.query()).toEqual({
      ok: false,
      checked: 3,
      firstBrokenSeq: 4,
      reason: 'hash_mismatch',
    });
    // Each org's chain is its own: this org's still verifies.
    expect((await h.admin.client.audit.verify.query()).ok).toBe(true);
  });

  it('names each entry’s actor and the user it acted for, only among the org’s own users; lists them for the filter', async () => {
    const named: TSeed = {
      ...event(h.orgId, 100),
      actorUserId: h.admin.id,
      onBehalfOfUserId: h.member.id,
      action: 'connection.disconnected',
    };
    // An id of another org's user in this org's log (not something the edge writes) is never resolved to a name.
    const foreign: TSeed = { ...event(h.orgId, 101), actorUserId: h.otherAdmin.id };
    const before = await countIn(h.orgId);
    await publish([named, foreign]);
    await waitForCount(h.orgId, before + 2);
    const { entries } = await h.viewer.client.audit.list.query({ limit: 200 });
    expect(entries.find((e) => e.eventId === named.eventId)).toMatchObject({
      actor: { email: 'admin@acme.test', name: 'admin' },
      onBehalfOf: { email: 'member@acme.test', name: 'member' },
    });
    expect(entries.find((e) => e.eventId === foreign.eventId)).toMatchObject({
      actorUserId: h.otherAdmin.id,
      actor: null,
      onBehalfOf: null,
    });
    expect(JSON.stringify(entries)).not.toContain('globex');
    // An id that is nobody's (the seeded entries') names nobody.
    expect(entries.find((e) => e.actorUserId === actors[0])?.actor).toBeNull();

    // The actor filter's choices: the org's users by name, never another org's; only for who reads the log.
    const { users } = await h.viewer.client.audit.actors.query();
    expect(users).toEqual([
      { id: h.admin.id, name: 'admin', email: 'admin@acme.test' },
      { id: h.member.id, name: 'member', email: 'member@acme.test' },
      { id: h.viewer.id, name: 'viewer', email: 'viewer@acme.test' },
    ]);
    expect((await h.otherAdmin.client.audit.actors.query()).users.map((u) => u.email)).toEqual([
      'admin@globex.test',
    ]);
    expect((await trpcErrorOf(h.member.client.audit.actors.query())).code).toBe('FORBIDDEN');
    expect((await trpcErrorOf(h.anonymous.audit.actors.query())).code).toBe('UNAUTHORIZED');
  });
});
