import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeProvidersFile } from '@otesse/fake-provider';
import { createLogger } from '@otesse/logging';
import { loadCatalogue } from '@otesse/providers';
import { confirmationForm, TestBrowser, waitFor } from '@otesse/testing';
import {
  DASHBOARD_URL,
  edgeClient,
  startEdgeReplica,
  startHarness,
  type THarness,
} from './e2e-harness';

/**
 * The start link is the requester's alone (OAuth CSRF / account linking): opened anywhere it names who it connects
 * and starts nothing until confirmed there; only the edge's own page and the dashboard may start it. And tokens a
 * callback obtained but could not attach to a connection are revoked at the provider.
 */
describe('OAuth start links and failed callbacks (all services as processes, fake provider)', () => {
  let h: THarness;

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  /** Whether the link's authorization was started, and what the org has of the vendor and the provider saw. */
  const footprint = async (vendor: string) => {
    const [row] = await h.db.query<{ started: string; connections: string }>(
      `select (select count(*) from edge.pending_authorization
                 where vendor = $1 and started_at is not null) as started,
              (select count(*) from connection.integration_connection where vendor = $1) as connections`,
      [vendor],
    );
    const authorizations = (await h.fakeClient.getState()).authorizations.filter(
      (a) => a.clientId === `otesse-dev-${vendor}`,
    ).length;
    return {
      started: Number(row!.started),
      connections: Number(row!.connections),
      authorizations,
    };
  };
  const nothing = { started: 0, connections: 0, authorizations: 0 };
  const reasonOf = (html: string) => /data-reason="([^"]+)"/.exec(html)?.[1];

  it("a link opened in someone else's browser shows whose it is, never framed, and starts nothing", async () => {
    const { url } = await h.member.client.integrations.oauthUrl.query({
      vendor: 'slack',
      flow: 'user',
    });
    // The member sends the link to the admin, whose browser (another cookie jar) opens it.
    const victim = new TestBrowser();
    const page = await victim.get(url);
    expect(page.status).toBe(200);
    expect(page.headers.get('location')).toBeNull();
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("default-src 'none'");
    expect(page.headers.get('referrer-policy')).toBe('same-origin');
    const html = await page.text();
    expect(/<p data-summary>(.*?)<\/p>/.exec(html)?.[1]?.replace(/<[^>]+>/g, '')).toBe(
      'Connect Slack to Acme as member (member@acme.test), as their personal connection.',
    );
    // Self-contained: no script and nothing loaded from elsewhere.
    expect(html).not.toMatch(/<script|<link|<img|src=/i);
    expect(await footprint('slack')).toEqual(nothing);

    // Opened again (any browser): still the page, the link still unused.
    expect((await new TestBrowser().get(url)).status).toBe(200);
    expect(await footprint('slack')).toEqual(nothing);
  });

  it('a POST from a foreign origin, without an origin or with a field from another browser is refused; the confirmed link connects', async () => {
    const { url } = await h.member.client.integrations.oauthUrl.query({
      vendor: 'salesforce',
      flow: 'user',
    });
    const attacker = new TestBrowser();
    const form = confirmationForm(await (await attacker.get(url)).text(), url)!;
    expect(form.action).toBe(url);

    // An attacker's page auto-submitting the form (with the field the attacker's own browser got).
    const foreign = await new TestBrowser().post(url, form.fields, 'https://evil.example');
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('location')).toBeNull();
    expect(reasonOf(await foreign.text())).toBe('foreign_origin');
    // No Origin at all (not a browser's form): refused as well.
    const bare = await fetch(url, { method: 'POST', redirect: 'manual' });
    expect(bare.status).toBe(403);
    expect(reasonOf(await bare.text())).toBe('foreign_origin');
    // Same origin, but the field was signed for the attacker's browser: another browser's cookie does not match.
    const victim = new TestBrowser();
    await victim.get(url);
    const forged = await victim.post(url, form.fields);
    expect(forged.status).toBe(403);
    expect(reasonOf(await forged.text())).toBe('confirmation_invalid');
    expect(await footprint('salesforce')).toEqual(nothing);

    // The person the link was made for confirms on the page: connected, as before.
    const mine = new TestBrowser();
    const { stoppedAt, hops } = await mine.follow(url, { stopAt: DASHBOARD_URL });
    expect(new URL(stoppedAt ?? 'http://x/').searchParams.get('oauth')).toBe('connected');
    expect(hops.some((u) => u.includes('/oauth/authorize'))).toBe(true);
    const conn = (await h.member.client.integrations.list.query()).find(
      (i) => i.provider.key === 'salesforce',
    )?.myConnection;
    expect(conn?.status).toBe('connected');
    // Single use: the link is spent.
    const again = await new TestBrowser().get(url);
    expect(again.status).toBe(400);
    expect(reasonOf(await again.text())).toBe('invalid_start');
  });

  it('in Chromium: the page renders under its CSP, and its Continue connects', async () => {
    const { url } = await h.member.client.integrations.oauthUrl.query({
      vendor: 'hubspot',
      flow: 'user',
    });
    const browser = await chromium.launch({
      executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu'],
    });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text());
      });
      // The dashboard is not running: its address answers an empty page.
      await page.route(`${DASHBOARD_URL}/**`, (r) => r.fulfill({ status: 200, body: 'dashboard' }));
      await page.goto(url);
      await expect(page.locator('[data-summary]').textContent()).resolves.toBe(
        'Connect HubSpot to Acme as member (member@acme.test), as their personal connection.',
      );
      // Its own style applies (the CSP lets exactly it in): the button is styled, not the default.
      await expect(
        page.getByRole('button').evaluate((b) => getComputedStyle(b).backgroundColor),
      ).resolves.toBe('rgb(36, 82, 198)');
      await page.getByRole('button', { name: 'Continue to HubSpot' }).click();
      await page.waitForURL((u) => u.toString().startsWith(DASHBOARD_URL));
      expect(new URL(page.url()).searchParams.get('oauth')).toBe('connected');
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('the dashboard posts the link from its own origin: straight to the provider, connected in one step', async () => {
    const { url } = await h.member.client.integrations.oauthUrl.query({
      vendor: 'google',
      flow: 'user',
    });
    const browser = new TestBrowser();
    const start = await browser.post(url, {}, DASHBOARD_URL);
    expect(start.status).toBe(302);
    const authorize = start.headers.get('location')!;
    expect(new URL(authorize).origin).toBe(new URL(h.fake.url).origin);
    const { stoppedAt } = await browser.follow(authorize, { stopAt: DASHBOARD_URL });
    expect(new URL(stoppedAt ?? 'http://x/').searchParams.get('oauth')).toBe('connected');
  });

  it("keeps the start key out of the edge's debug request log", async () => {
    const lines: string[] = [];
    const logger = createLogger({
      name: 'edge-debug',
      level: 'debug',
      destination: { write: (line: string) => void lines.push(line) },
    });
    const edge = await startEdgeReplica(h, logger);
    try {
      const { url } = await edgeClient(edge.url, h.member.token).integrations.oauthUrl.query({
        vendor: 'confluence',
        flow: 'user',
      });
      const key = url.split('/').pop()!;
      expect((await fetch(url)).status).toBe(200);
      expect((await fetch(`${edge.url}/connect/start/${'Z'.repeat(40)}`)).status).toBe(400);
      await waitFor(() => lines.filter((l) => l.includes('/connect/start/')).length >= 2);
      expect(lines.join('\n')).not.toContain(key);
      expect(lines.join('\n')).not.toContain('Z'.repeat(40));
      expect(lines.filter((l) => l.includes('"path":"/connect/start/:key"')).length).toBe(2);
    } finally {
      await edge.stop();
    }
  });

  it('connects QuickBooks with its built-in identity: the company (realmId) the callback brings', async () => {
    // The catalogue the fake provider's file gives, but QuickBooks reads its identity as in production.
    const file = fakeProvidersFile(h.fake.url);
    const qb = file.providers.find((p) => p['key'] === 'quickbooks')!;
    delete (qb['oauth'] as Record<string, unknown>)['identity'];
    const path = join(mkdtempSync(join(tmpdir(), 'otesse-qb-')), 'providers.json');
    writeFileSync(path, JSON.stringify(file));
    const catalogue = loadCatalogue({ providersFile: path });
    expect(catalogue.get('quickbooks').oauth?.identity).toMatchObject({
      kind: 'token-response',
      accountIdPath: 'realmId',
    });
    const edge = await startEdgeReplica(h, undefined, { catalogue });
    try {
      const admin = edgeClient(edge.url, h.admin.token);
      const { url } = await admin.integrations.oauthUrl.query({
        vendor: 'quickbooks',
        flow: 'app',
      });
      const { stoppedAt } = await new TestBrowser().follow(url, { stopAt: DASHBOARD_URL });
      expect(Object.fromEntries(new URL(stoppedAt ?? 'http://x/').searchParams)).toMatchObject({
        oauth: 'connected',
      });
      const conn = (await admin.integrations.list.query()).find(
        (i) => i.provider.key === 'quickbooks',
      )?.appConnection;
      // alice's tenant at the fake provider is the company she chose.
      expect(conn).toMatchObject({
        status: 'connected',
        externalAccountId: 'acme',
        tenantId: 'acme',
      });
    } finally {
      await edge.stop();
    }
  });

  it("two start links for one slot: the second callback's connect is refused and its tokens are revoked at the provider", async () => {
    const link = async () =>
      (await h.admin.client.integrations.oauthUrl.query({ vendor: 'xero', flow: 'app' })).url;
    // Both handed out while the slot is empty (two tabs, two clicks).
    const [first, second] = [await link(), await link()];
    const issued = async () => h.fakeClient.listTokens({ clientId: 'otesse-dev-xero' });

    const one = await new TestBrowser().follow(first, { stopAt: DASHBOARD_URL });
    expect(new URL(one.stoppedAt!).searchParams.get('oauth')).toBe('connected');
    const kept = await issued();
    expect(kept.map((t) => t.status)).toEqual(['active', 'active']);

    const two = await new TestBrowser().follow(second, { stopAt: DASHBOARD_URL });
    expect(Object.fromEntries(new URL(two.stoppedAt!).searchParams)).toMatchObject({
      oauth: 'failed',
      reason: 'already_connected',
    });
    const keptTokens = new Set(kept.map((t) => t.token));
    const fresh = await waitFor(async () => {
      const tokens = (await issued()).filter((t) => !keptTokens.has(t.token));
      return tokens.length === 2 && tokens.every((t) => t.status === 'revoked')
        ? tokens
        : undefined;
    });
    expect(fresh.map((t) => t.type).sort()).toEqual(['access', 'refresh']);
    // The connection of the first link keeps its tokens.
    expect((await issued()).filter((t) => keptTokens.has(t.token)).map((t) => t.status)).toEqual([
      'active',
      'active',
    ]);
  });
});
