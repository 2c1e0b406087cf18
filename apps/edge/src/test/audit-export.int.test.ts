import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZAuditEntry, type TAuditEventInput } from '@otesse/contracts';
import { EventPublisher } from '@otesse/messaging';
import { waitFor } from '@otesse/testing';
import { AUDIT_CSV_COLUMNS } from '../http/audit-export.route';
import { ZRestError } from '../http/rest-errors';
import { startHarness, type THarness } from './e2e-harness';

/** RFC 4180 parser (quoted fields, doubled quotes, CRLF inside quotes): what a spreadsheet does. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  if (field !== '' || row.length > 0) throw new Error('CSV does not end with CRLF');
  return rows;
}

/** Issue 3: streaming export of the whole log (NDJSON and CSV), no row cap, same permissions as the list. */
describe('audit export through the edge (GET /v1/audit/export)', () => {
  let h: THarness;
  const TOTAL = 2_500;
  const nasty = {
    eventId: randomUUID(),
    note: 'comma, "quotes" and\r\na line break; ünïcödé',
    ip: '=HYPERLINK("http://evil.test")',
  };

  const get = (query: string, token?: string, init: RequestInit = {}) =>
    fetch(`${h.stack.edgeUrl}/v1/audit/export${query}`, {
      ...init,
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });

  beforeAll(async () => {
    h = await startHarness({ services: ['audit', 'edge'] });
    const pub = new EventPublisher(h.nc);
    const events: (TAuditEventInput & { eventId: string })[] = Array.from(
      { length: TOTAL },
      (_, i) => ({
        eventId: i === 1_234 ? nasty.eventId : randomUUID(),
        orgId: h.orgId,
        actorUserId: h.admin.id,
        action: i % 10 === 0 ? 'connection.disconnected' : 'sync_job.run_requested',
        provider: 'servicenow',
        outcome: 'success',
        details: i === 1_234 ? { note: nasty.note, i } : { i },
        occurredAt: new Date(Date.UTC(2026, 0, 1) + i * 1_000).toISOString(),
        ip: i === 1_234 ? nasty.ip : '198.51.100.1',
      }),
    );
    // Pipelined publishes (each still acked by JetStream), 250 at a time.
    for (let i = 0; i < events.length; i += 250) {
      await Promise.all(
        events
          .slice(i, i + 250)
          .map((e) => pub.publish('audit.entries.append', e, { msgId: e.eventId })),
      );
    }
    const other = { ...events[0]!, eventId: randomUUID(), orgId: h.otherOrgId };
    await pub.publish('audit.entries.append', other, { msgId: other.eventId });
    await waitFor(
      async () => {
        const [r] = await h.db.query<{ n: string }>('select count(*) as n from audit.audit_entry');
        return Number(r?.n) === TOTAL + 1 ? true : undefined;
      },
      { timeoutMs: 20_000, what: 'all entries written' },
    );
  });
  afterAll(async () => {
    await h?.close();
  });

  it('streams every entry as NDJSON, newest first, each line a whole entry', async () => {
    const res = await get('?format=ndjson', h.viewer.token);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-ndjson');
    expect(res.headers.get('content-disposition')).toMatch(
      /^attachment; filename="audit-.*\.ndjson"$/,
    );
    expect(res.headers.get('cache-control')).toBe('no-store');
    const text = await res.text();
    expect(text.endsWith('\n')).toBe(true);
    const entries = text
      .trimEnd()
      .split('\n')
      .map((l) => ZAuditEntry.parse(JSON.parse(l)));
    expect(entries).toHaveLength(TOTAL);
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: TOTAL }, (_, i) => TOTAL - i));
    expect(new Set(entries.map((e) => e.id)).size).toBe(TOTAL);
    expect(entries.every((e) => e.orgId === h.orgId)).toBe(true);
    const odd = entries.find((e) => e.eventId === nasty.eventId);
    expect(odd?.details['note']).toBe(nasty.note);
    expect(odd?.ip).toBe(nasty.ip);
  });

  it('streams every entry as CSV, escaped so a spreadsheet reads it back', async () => {
    const res = await get('?format=csv', h.admin.token);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const rows = parseCsv(await res.text());
    expect(rows[0]).toEqual([...AUDIT_CSV_COLUMNS]);
    const data = rows.slice(1);
    expect(data).toHaveLength(TOTAL);
    const col = (name: (typeof AUDIT_CSV_COLUMNS)[number]) => AUDIT_CSV_COLUMNS.indexOf(name);
    expect(data.map((r) => Number(r[col('seq')]))).toEqual(
      Array.from({ length: TOTAL }, (_, i) => TOTAL - i),
    );
    expect(data.every((r) => r.length === AUDIT_CSV_COLUMNS.length)).toBe(true);
    const odd = data.find((r) => r[col('eventId')] === nasty.eventId)!;
    expect(JSON.parse(odd[col('details')]!)).toEqual({ note: nasty.note, i: 1_234 });
    // A formula is neutralised with a leading quote (the NDJSON keeps it verbatim).
    expect(odd[col('ip')]).toBe(`'${nasty.ip}`);
    expect(odd[col('prevHash')]).toMatch(/^[0-9a-f]{64}$/);
    const first = data.at(-1)!;
    expect(first[col('seq')]).toBe('1');
    expect(first[col('prevHash')]).toBe('');
  });

  it('applies the filters', async () => {
    const res = await get('?format=ndjson&action=connection.disconnected', h.admin.token);
    const lines = (await res.text()).trimEnd().split('\n');
    expect(lines).toHaveLength(TOTAL / 10);
    expect(lines.every((l) => JSON.parse(l).action === 'connection.disconnected')).toBe(true);
    const from = new Date(Date.UTC(2026, 0, 1) + 2_000 * 1_000).toISOString();
    const ranged = await get(`?format=csv&from=${encodeURIComponent(from)}`, h.admin.token);
    expect(parseCsv(await ranged.text())).toHaveLength(1 + 500);
  });

  it("exports only the caller's org", async () => {
    const res = await get('', h.otherAdmin.token);
    expect(res.status).toBe(200);
    const lines = (await res.text()).trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!).orgId).toBe(h.otherOrgId);
  });

  it('refuses without a token or with a bad one (401), without settings.view (403), bad queries (400)', async () => {
    const none = await get('?format=csv');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    // The errors of every /v1 route: `{ message, code, data }` (ZRestError), with the status in `data`.
    const error = async (r: Response) => ZRestError.strict().parse(await r.json());
    expect(await error(none)).toMatchObject({
      code: 'UNAUTHORIZED',
      data: { httpStatus: 401, appCode: 'UNAUTHORIZED' },
    });
    expect((await get('', 'otk_not-a-real-token')).status).toBe(401);
    const member = await get('?format=csv', h.member.token);
    expect(member.status).toBe(403);
    expect(await error(member)).toMatchObject({ code: 'FORBIDDEN', data: { httpStatus: 403 } });
    for (const [q, param] of [
      ['?format=xml', 'format'],
      ['?action=connection.exploded', 'action'],
      ['?limit=5', undefined],
      ['?action=a&action=b', undefined],
    ] as const) {
      const r = await get(q, h.admin.token);
      expect(r.status, q).toBe(400);
      const body = await error(r);
      expect(body, q).toMatchObject({ code: 'BAD_REQUEST', data: { httpStatus: 400 } });
      // A bad parameter is named as a procedure's bad input is.
      if (param) {
        expect(body.message).toBe('Input validation failed');
        expect(body.issues?.map((i) => i.path)).toContainEqual([param]);
        expect(body.data.zodIssues?.map((i) => i.path)).toContainEqual([param]);
      }
    }
    const post = await get('', h.admin.token, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect(await error(post)).toMatchObject({
      code: 'METHOD_NOT_SUPPORTED',
      data: { httpStatus: 405 },
    });
  });

  it('survives a client that goes away mid-stream', async () => {
    const ac = new AbortController();
    const res = await get('?format=ndjson', h.admin.token, { signal: ac.signal });
    const reader = res.body!.getReader();
    await reader.read();
    ac.abort();
    await reader.read().catch(() => undefined);
    const again = await get('?format=ndjson&action=connection.disconnected', h.admin.token);
    expect(again.status).toBe(200);
    expect((await again.text()).trimEnd().split('\n')).toHaveLength(TOTAL / 10);
  });
});
