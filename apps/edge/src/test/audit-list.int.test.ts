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
    // No input at all is the first page (as an older dashboard asks).
    expect(await h.viewer.client.audit.actors.query()).toEqual({
      users: [
        { id: h.admin.id, name: 'admin', email: 'admin@acme.test' },
        { id: h.member.id, name: 'member', email: 'member@acme.test' },
        { id: h.viewer.id, name: 'viewer', email: 'viewer@acme.test' },
      ],
      more: false,
    });
    expect((await h.otherAdmin.client.audit.actors.query({})).users.map((u) => u.email)).toEqual([
      'admin@globex.test',
    ]);
    expect((await trpcErrorOf(h.member.client.audit.actors.query())).code).toBe('FORBIDDEN');
    expect((await trpcErrorOf(h.anonymous.audit.actors.query())).code).toBe('UNAUTHORIZED');
  });

  describe('the actor filter’s search (audit.actors), for orgs of any size', () => {
    /** A user straight into the edge's `app_user` (no token: only ever named, never signed in). */
    const addUser = async (orgId: string, name: string, email: string): Promise<string> => {
      const id = randomUUID();
      await h.db.query(
        `insert into edge.app_user (id, org_id, email, name, permissions, created_at)
         values ($1, $2, $3, $4, '[]', now())`,
        [id, orgId, email, name],
      );
      return id;
    };
    const emails = (r: { users: { email: string }[] }) => r.users.map((u) => u.email);
    const pagers: string[] = [];
    let foreignPager: string;

    beforeAll(async () => {
      // Seven users that one search finds (to page through), and one each for LIKE's special characters.
      for (let i = 1; i <= 7; i++)
        pagers.push(await addUser(h.orgId, `Pager 0${i}`, `pager0${i}@acme.test`));
      await addUser(h.orgId, 'Percy 100% Sure', 'percy@acme.test');
      await addUser(h.orgId, 'Under_Score', 'u_s@acme.test');
      await addUser(h.orgId, 'Back\\slash', 'bs@acme.test');
      await addUser(h.orgId, 'MiXeD Case', 'shouty@acme.test');
      foreignPager = await addUser(h.otherOrgId, 'Pager Globex', 'pager@globex.test');
    });

    it('matches name or email case-insensitively, ordered by name; trims the search', async () => {
      const q = h.viewer.client.audit.actors.query;
      expect(await q({ search: 'mixed' })).toEqual({
        users: [{ id: expect.any(String), name: 'MiXeD Case', email: 'shouty@acme.test' }],
        more: false,
      });
      expect(emails(await q({ search: 'SHOUTY@' }))).toEqual(['shouty@acme.test']);
      // Through the email alone (no name holds an `@`).
      expect(emails(await q({ search: 'MEMBER@ACME' }))).toEqual(['member@acme.test']);
      expect(emails(await q({ search: '  pAgEr  ' }))).toEqual(
        Array.from({ length: 7 }, (_, i) => `pager0${i + 1}@acme.test`),
      );
      // A blank search is no search: the first page of everyone.
      expect((await q({ search: '   ' })).users.length).toBe(14);
    });

    it('takes %, _ and \\ literally', async () => {
      const q = h.viewer.client.audit.actors.query;
      expect(emails(await q({ search: '100%' }))).toEqual(['percy@acme.test']);
      expect(emails(await q({ search: '%' }))).toEqual(['percy@acme.test']);
      // As wildcards, `p%y` would find Percy and `a_m` the admin.
      expect(emails(await q({ search: 'p%y' }))).toEqual([]);
      expect(emails(await q({ search: 'a_m' }))).toEqual([]);
      expect(emails(await q({ search: '_' }))).toEqual(['u_s@acme.test']);
      expect(emails(await q({ search: '\\' }))).toEqual(['bs@acme.test']);
      expect(emails(await q({ search: 'k\\s' }))).toEqual(['bs@acme.test']);
    });

    it('returns at most `limit`, saying whether there were more', async () => {
      const q = h.viewer.client.audit.actors.query;
      const first = await q({ search: 'pager', limit: 3 });
      expect(first).toEqual({
        users: pagers.slice(0, 3).map((id, i) => ({
          id,
          name: `Pager 0${i + 1}`,
          email: `pager0${i + 1}@acme.test`,
        })),
        more: true,
      });
      expect(await q({ search: 'pager', limit: 7 })).toMatchObject({ more: false });
      expect((await q({ search: 'pager', limit: 6 })).more).toBe(true);
      expect(await q({ search: 'pager', limit: 1 })).toMatchObject({
        users: [{ id: pagers[0] }],
        more: true,
      });

      // A large org: the reply is one default page (50), never the whole org.
      await h.db.query(
        `insert into edge.app_user (id, org_id, email, name, permissions, created_at)
         select gen_random_uuid(), $1, 'bulk' || g || '@acme.test', 'Bulk ' || lpad(g::text, 4, '0'), '[]', now()
           from generate_series(1, 500) g`,
        [h.orgId],
      );
      const big = await q({});
      expect(big.users.length).toBe(50);
      expect(big.more).toBe(true);
      const max = await q({ search: 'bulk', limit: 100 });
      expect(max.users.map((u) => u.name)).toEqual(
        Array.from({ length: 100 }, (_, i) => `Bulk ${String(i + 1).padStart(4, '0')}`),
      );
      expect(max.more).toBe(true);
      expect(await q({ search: 'bulk500@' })).toMatchObject({
        users: [{ name: 'Bulk 0500' }],
        more: false,
      });
    });

    it('lists the users of `ids` too (matching or not, once each), only the org’s own', async () => {
      const q = h.viewer.client.audit.actors.query;
      const got = await q({
        search: 'pager',
        limit: 2,
        ids: [h.member.id, pagers[1]!, h.otherAdmin.id, foreignPager, randomUUID(), h.member.id],
      });
      expect(got).toEqual({
        users: [
          { id: pagers[0], name: 'Pager 01', email: 'pager01@acme.test' },
          { id: pagers[1], name: 'Pager 02', email: 'pager02@acme.test' },
          { id: h.member.id, name: 'member', email: 'member@acme.test' },
        ],
        more: true,
      });
      // Nothing matches, the selected actor is still named.
      expect(await q({ search: 'nobody at all', ids: [h.admin.id] })).toEqual({
        users: [{ id: h.admin.id, name: 'admin', email: 'admin@acme.test' }],
        more: false,
      });
    });

    it('never returns another org’s user, by search or by id', async () => {
      const mine = h.admin.client.audit.actors.query;
      expect(emails(await mine({ search: 'globex' }))).toEqual([]);
      expect(
        emails(await mine({ search: 'pager', ids: [h.otherAdmin.id, foreignPager] })),
      ).not.toContain('pager@globex.test');
      expect(await mine({ search: 'nobody at all', ids: [h.otherAdmin.id, foreignPager] })).toEqual(
        { users: [], more: false },
      );
      // And theirs never returns ours.
      const theirs = await h.otherAdmin.client.audit.actors.query({
        search: 'pager',
        ids: [h.admin.id, pagers[0]!],
      });
      expect(emails(theirs)).toEqual(['pager@globex.test']);
    });

    it('refuses bad input (BAD_REQUEST, with the zod issue), a member (FORBIDDEN), no token (UNAUTHORIZED)', async () => {
      const q = h.viewer.client.audit.actors.query;
      const bad = async (input: unknown, path: (string | number)[]) => {
        const err = await trpcErrorOf(q(input as Parameters<typeof q>[0]));
        expect(err.code).toBe('BAD_REQUEST');
        expect(err.data['zodIssues']).toEqual([expect.objectContaining({ path })]);
      };
      await bad({ limit: 0 }, ['limit']);
      await bad({ limit: 101 }, ['limit']);
      await bad({ limit: 2.5 }, ['limit']);
      await bad({ search: 'x'.repeat(101) }, ['search']);
      await bad({ search: 'a\u0000b' }, ['search']);
      await bad({ ids: ['not-a-uuid'] }, ['ids', 0]);
      await bad({ ids: Array.from({ length: 21 }, () => randomUUID()) }, ['ids']);
      // Exactly 100 characters (after trimming) is fine.
      expect((await q({ search: ` ${'x'.repeat(100)} ` })).users).toEqual([]);
      expect((await trpcErrorOf(q({ orgId: h.otherOrgId } as Parameters<typeof q>[0]))).code).toBe(
        'BAD_REQUEST',
      );
      expect(
        (await trpcErrorOf(h.member.client.audit.actors.query({ search: 'pager' }))).code,
      ).toBe('FORBIDDEN');
      expect((await trpcErrorOf(h.anonymous.audit.actors.query({ search: 'pager' }))).code).toBe(
        'UNAUTHORIZED',
      );
    });
  });
});
