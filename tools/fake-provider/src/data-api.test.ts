import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { FakeProviderClient } from './fake-provider.client.js';
import { startFakeProvider, type TFakeProvider } from './fake-provider.server.js';
import { getJson, obtainTokens, type TTokenBody } from './oauth-flow.test-helpers.js';

interface TPage {
  items: Array<Record<string, unknown> & { id: string; updatedAt: string }>;
  nextCursor: string | null;
}

let provider: TFakeProvider;
let control: FakeProviderClient;
let alice: TTokenBody;

beforeAll(async () => {
  provider = await startFakeProvider({ port: 0 });
  control = new FakeProviderClient(provider.url);
});
afterAll(() => provider.close());
beforeEach(async () => {
  await control.reset();
  alice = await obtainTokens(provider.url);
});

async function readAll(base: string, resource: string, token: string, limit?: number) {
  const items: TPage['items'] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const query: URLSearchParams = new URLSearchParams({
      ...(cursor ? { cursor } : {}),
      ...(limit ? { limit: String(limit) } : {}),
    });
    const res: { status: number; body: TPage } = await getJson<TPage>(
      `${base}/api/${resource}?${query.toString()}`,
      token,
    );
    expect(res.status).toBe(200);
    items.push(...res.body.items);
    cursor = res.body.nextCursor;
    pages += 1;
  } while (cursor);
  return { items, pages };
}

describe('data API', () => {
  it('pages through the default 50 contacts', async () => {
    const { items, pages } = await readAll(provider.url, 'contacts', alice.access_token, 20);
    expect(pages).toBe(3);
    expect(items.map((c) => c.id)).toEqual(Array.from({ length: 50 }, (_, i) => `ct-${i + 1}`));
    expect(items[0]).toEqual({
      id: 'ct-1',
      name: expect.any(String),
      email: expect.stringMatching(/@acme\.test$/),
      updatedAt: expect.any(String),
    });
    // updatedAt ascends with the id.
    const times = items.map((c) => Date.parse(c.updatedAt));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
  });

  it('returns everything in one page with the default limit, shaped per resource', async () => {
    const invoices = await getJson<TPage>(`${provider.url}/api/invoices`, alice.access_token);
    expect(invoices.body.items).toHaveLength(50);
    expect(invoices.body.nextCursor).toBeNull();
    expect(invoices.body.items[0]).toEqual({
      id: 'inv-1',
      number: 'INV-ACME-00001',
      amount: expect.any(Number),
      currency: expect.stringMatching(/^(USD|EUR|GBP)$/),
      updatedAt: expect.any(String),
    });
    const tickets = await getJson<TPage>(`${provider.url}/api/tickets?limit=1`, alice.access_token);
    expect(tickets.body.items[0]).toEqual({
      id: 'tk-1',
      title: expect.any(String),
      status: expect.stringMatching(/^(open|pending|solved|closed)$/),
      updatedAt: expect.any(String),
    });
  });

  it('is deterministic per tenant and honours configured counts', async () => {
    await control.configure({ dataCounts: { contacts: 1234 } });
    const again = await obtainTokens(provider.url, { login_hint: 'u-bob' });
    const a = await getJson<TPage>(`${provider.url}/api/contacts?limit=5`, alice.access_token);
    const b = await getJson<TPage>(`${provider.url}/api/contacts?limit=5`, again.access_token);
    expect(a.body.items).toEqual(b.body.items); // same tenant
    const carol = await obtainTokens(provider.url, { login_hint: 'u-carol' });
    const c = await getJson<TPage>(`${provider.url}/api/contacts?limit=5`, carol.access_token);
    expect(c.body.items[0]?.['email']).toMatch(/@globex\.test$/);

    const big = await getJson<TPage>(`${provider.url}/api/contacts?limit=5000`, alice.access_token);
    expect(big.body.items).toHaveLength(1000); // max limit
    const all = await readAll(provider.url, 'contacts', alice.access_token, 1000);
    expect(all.items).toHaveLength(1234);
    expect((await control.getConfig()).dataCounts).toEqual({
      contacts: 1234,
      invoices: 50,
      tickets: 50,
    });
  });

  it('counts calls per resource and records them', async () => {
    await readAll(provider.url, 'tickets', alice.access_token, 20);
    await getJson(`${provider.url}/api/health`, alice.access_token);
    await getJson(`${provider.url}/api/invoices`, 'fpa_bad');
    const state = await control.getState();
    expect(state.dataCallCounts).toEqual({ contacts: 0, invoices: 1, tickets: 3, health: 1 });
    expect(state.dataCalls.map((c) => [c.resource, c.status, c.itemCount])).toEqual([
      ['tickets', 200, 20],
      ['tickets', 200, 20],
      ['tickets', 200, 10],
      ['invoices', 401, undefined],
    ]);
  });

  it('rejects bad tokens, bad params and unknown resources', async () => {
    expect(await getJson(`${provider.url}/api/contacts`)).toMatchObject({
      status: 401,
      body: { error: 'invalid_token' },
    });
    expect(await getJson(`${provider.url}/api/health`, 'nope')).toMatchObject({ status: 401 });
    expect(await getJson(`${provider.url}/api/health`, alice.access_token)).toEqual({
      status: 200,
      body: { ok: true },
    });
    expect((await getJson(`${provider.url}/api/contacts?limit=0`, alice.access_token)).status).toBe(
      400,
    );
    expect(
      (await getJson(`${provider.url}/api/contacts?cursor=garbage`, alice.access_token)).status,
    ).toBe(400);
    expect((await getJson(`${provider.url}/api/widgets`, alice.access_token)).status).toBe(404);
    await control.expireAccessTokens({ userId: 'u-alice' });
    expect((await getJson(`${provider.url}/api/contacts`, alice.access_token)).status).toBe(401);
  });

  it("dataApiMode 'unauthorized' refuses every token on the data API and its health path, not elsewhere", async () => {
    await control.configure({ dataApiMode: 'unauthorized' });
    expect(await getJson(`${provider.url}/api/contacts`, alice.access_token)).toMatchObject({
      status: 401,
      body: { error: 'invalid_token' },
    });
    expect((await getJson(`${provider.url}/api/health`, alice.access_token)).status).toBe(401);
    expect((await getJson(`${provider.url}/oauth/userinfo`, alice.access_token)).status).toBe(200);
    await control.configure({ dataApiMode: 'ok' });
    expect((await getJson(`${provider.url}/api/contacts`, alice.access_token)).status).toBe(200);
  });

  it('dataApiRedirectTo answers every page call with a 302 to it, until set back to null', async () => {
    await control.configure({ dataApiRedirectTo: 'http://169.254.169.254/latest/meta-data/' });
    const res = await fetch(`${provider.url}/api/contacts?limit=5`, {
      headers: { authorization: `Bearer ${alice.access_token}` },
      redirect: 'manual',
    });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('http://169.254.169.254/latest/meta-data/');
    await control.configure({ dataApiRedirectTo: null });
    expect((await getJson(`${provider.url}/api/contacts`, alice.access_token)).status).toBe(200);
  });

  it('pageDelayMs slows each page', async () => {
    await control.configure({ pageDelayMs: 100 });
    const started = Date.now();
    await getJson(`${provider.url}/api/contacts?limit=1`, alice.access_token);
    expect(Date.now() - started).toBeGreaterThanOrEqual(95);
  });
});
