import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTRPCClient, httpBatchLink } from '@trpc/client';
import type { AppRouter } from '@otesse/edge-api';
import {
  createUserToken,
  failUpdatesWhere,
  leaveUnfinishedConnect,
  screenshot,
  signIn,
  signedBy,
  startDashboardHarness,
  waitFor,
  type TDashboardHarness,
} from './dashboard-harness';

const QB_SECRET = 'qb-verifier-token-browser-01';
const QB_SECRET_NEXT = 'qb-verifier-token-browser-02';
const QB_BODY = '{"eventNotifications":[{"realmId":"r1"}]}';

const SEED_BODY =
  'This will revoke access and delete all stored credentials. Any active sync jobs will stop. Previously synced data will be kept but marked as stale.';

/**
 * Issue 7's done-when, in headless Chromium against the real stack and the fake provider: connect (OAuth with and
 * without a subdomain, API key), the disconnect dialog (seed texts, counts, warnings, focus trap, Escape, live
 * progress, result), Connect reappearing, the audit log, the Email Builder's senders.
 */
describe('dashboard in a real browser (whole stack as processes, fake OAuth provider)', () => {
  let h: TDashboardHarness;

  beforeAll(async () => {
    h = await startDashboardHarness();
  });
  afterAll(async () => {
    await h?.close();
  });
  afterEach(() => {
    expect(h.consoleErrors).toEqual([]);
  });

  const card = (name: string) => h.page.getByRole('article', { name, exact: true });
  const goTo = async (link: string) => {
    await h.page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: link })
      .click();
    await h.page.getByRole('heading', { level: 1, name: link }).waitFor();
  };
  const backOnDashboard = () =>
    h.page.waitForURL((u) => u.origin === h.dashboardUrl && u.search.includes('oauth='));
  const focused = () =>
    h.page.evaluate(() => ({
      text: document.activeElement?.textContent ?? '',
      inDialog: !!document.activeElement?.closest('dialog[open]'),
    }));

  it('signs in with a token and shows who is signed in', async () => {
    await signIn(h, h.admin);
    await expect(h.page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(
      'All Integrations',
    );
    await expect(h.page.getByTestId('current-user').textContent()).resolves.toContain(h.admin.name);
  });

  it('lays out at 1280 px: the menu on one line, the catalogue across the page', async () => {
    const { page } = h;
    await page.locator('article.provider-card').nth(9).waitFor();
    // Every menu item on one line, all on the same row.
    const items = await page
      .getByRole('navigation', { name: 'Main' })
      .locator('a')
      .evaluateAll((els) =>
        els.map((e) => {
          const r = e.getBoundingClientRect();
          return { top: Math.round(r.top), height: Math.round(r.height) };
        }),
      );
    expect(items.length).toBe(5);
    expect(new Set(items.map((i) => i.top)).size).toBe(1);
    expect(Math.max(...items.map((i) => i.height))).toBeLessThan(40);
    // Cards fill the row: three side by side, the last reaching the content's right edge.
    const page_ = await page.locator('main').evaluate((m) => {
      const style = getComputedStyle(m);
      return m.getBoundingClientRect().right - parseFloat(style.paddingRight);
    });
    const cards = await page.locator('article.provider-card').evaluateAll((els) =>
      els.map((e) => {
        const r = e.getBoundingClientRect();
        return { top: Math.round(r.top), right: Math.round(r.right) };
      }),
    );
    const firstRow = cards.filter((c) => c.top === cards[0]!.top);
    expect(firstRow.length).toBe(3);
    expect(Math.max(...firstRow.map((c) => c.right))).toBeGreaterThan(page_ - 4);
  });

  it('connects Google through the fake provider: real redirects, back on the dashboard, connected', async () => {
    const google = card('Google Workspace');
    await google.getByRole('button', { name: 'Connect Google Workspace' }).click();
    // edge /connect/start → provider /oauth/authorize → edge callback → dashboard ?oauth=connected
    await backOnDashboard();
    await expect(h.page.getByTestId('oauth-result').textContent()).resolves.toContain(
      'Google Workspace is connected.',
    );
    await google.getByText('Connected', { exact: true }).waitFor();
    await expect(google.textContent()).resolves.toContain('alice@acme.test');
    // The one-time result left the address bar (a reload does not repeat it) and Connect is gone.
    expect(new URL(h.page.url()).search).toBe('');
    await expect(google.getByRole('button', { name: /^Connect/ }).count()).resolves.toBe(0);
  });

  it('connects ServiceNow after asking for its instance subdomain', async () => {
    const sn = card('ServiceNow');
    await sn.getByLabel('ServiceNow instance').fill('acme');
    await sn.getByRole('button', { name: 'Connect ServiceNow' }).click();
    await backOnDashboard();
    await sn.getByText('Connected', { exact: true }).waitFor();
  });

  it('connects Postmark with an API key; its senders appear in the Email Builder', async () => {
    const postmark = card('Postmark');
    await postmark.getByRole('button', { name: 'Connect Postmark' }).click();
    await postmark.getByLabel('Server API token').fill('pm-server-token-0001');
    await postmark.getByLabel('Sender emails').fill('billing@acme.test, Support@acme.test');
    await postmark.getByRole('button', { name: 'Connect Postmark' }).click();
    await postmark.getByText('Connected', { exact: true }).waitFor();
    // Each card says what it is connected as: an account is not an organization, Postmark lists its senders,
    // ServiceNow its instance; Google the provider organization (domain) the org's Google is pinned to.
    await expect(card('Google Workspace').locator('.connected-as').textContent()).resolves.toBe(
      'Linked to:acmeConnected as:alice@acme.test (organization)',
    );
    await expect(postmark.locator('.connected-as').textContent()).resolves.toBe(
      'Senders:billing@acme.test +1 more (organization)',
    );
    await expect(card('ServiceNow').locator('.connected-as').textContent()).resolves.toContain(
      'ServiceNow instance:acme',
    );
    // Every provider says in a line what it is.
    for (const description of await h.page
      .locator('article.provider-card')
      .evaluateAll((els) => els.map((e) => e.querySelector('.provider-description')?.textContent)))
      expect(description?.length).toBeGreaterThan(10);
    await screenshot(h.page, 'catalogue');

    await goTo('Email Builder');
    const from = h.page.getByLabel('From');
    await from.locator('option', { hasText: 'billing@acme.test' }).waitFor({ state: 'attached' });
    await expect(from.locator('option').allTextContents()).resolves.toEqual([
      'billing@acme.test (Postmark)',
      'support@acme.test (Postmark)',
    ]);
    await screenshot(h.page, 'email-builder');
  });

  it('shows connections: who connected, the external account, health and sync jobs', async () => {
    await goTo('Connections');
    const sn = card('ServiceNow');
    await sn.locator('tr[data-resource="tickets"]').waitFor();
    const text = await sn.textContent();
    expect(text).toContain('Organization connection');
    expect(text).toContain(`You (${h.admin.email})`);
    expect(text).toContain('alice@acme.test');
    expect(text).toContain('acme.service-now.com');
    await expect(sn.locator('tbody tr').count()).resolves.toBe(2);
    // The jobs say whose connection they sync for; the records are the instance's, said once.
    await expect(sn.locator('.sync-job-group caption').allTextContents()).resolves.toEqual([
      'Organization connection, connected by you',
    ]);
    await expect(sn.getByTestId('instance-records').textContent()).resolves.toMatch(
      /^Records kept in Otesse for this instance, whichever connection synced them: Contacts \d+ · Tickets \d+\./,
    );
    // Deliveries cannot be "accepted" while no password is set: they are refused until one is.
    const deliveries = sn
      .getByRole('region', { name: 'Inbound webhooks' })
      .locator('div', { has: h.page.locator('dt', { hasText: 'Deliveries' }) });
    await expect(deliveries.locator('dd').textContent()).resolves.toBe(
      'refused until a password is set',
    );
    await screenshot(h.page, 'connections');
  });

  it('audit log lists the connects, filters by provider', async () => {
    await goTo('Audit log');
    const rows = h.page.locator('tbody tr[data-action="connection.connected"]');
    await rows.nth(2).waitFor();
    await expect(rows.count()).resolves.toBe(3);

    await h.page.getByLabel('Provider').selectOption('postmark');
    await h.page.getByRole('button', { name: 'Apply filters' }).click();
    await h.page.getByText('Showing 1 entry (all).').waitFor();
    await expect(h.page.locator('tbody tr').first().textContent()).resolves.toContain('Postmark');
    await h.page.getByRole('button', { name: 'Reset' }).click();
    await h.page.locator('tbody tr').nth(3).waitFor();
    await screenshot(h.page, 'audit-log');
  });

  it('disconnect dialog: the seed texts, counts and warnings; a real modal (focus trap, Escape)', async () => {
    const { page } = h;
    await goTo('All Integrations');
    const opener = card('ServiceNow').getByRole('button', { name: 'Disconnect ServiceNow' });
    await opener.click();
    const dialog = page.getByRole('dialog', { name: 'Disconnect ServiceNow?' });
    await dialog.getByTestId('disconnect-body').waitFor();
    await expect(dialog.getAttribute('aria-modal')).resolves.toBe('true');
    await expect(dialog.getByTestId('disconnect-body').textContent()).resolves.toBe(SEED_BODY);
    // Both ServiceNow jobs (tickets, contacts) are active and will be disabled.
    await expect(
      dialog.getByTestId('jobs-warning').locator('.alert-title').textContent(),
    ).resolves.toBe('2 active sync jobs will be disabled.');
    await expect(
      dialog.getByTestId('dependent-warning').locator('.alert-title').textContent(),
    ).resolves.toBe('Disconnecting may affect Ticket sync in the Support inbox.');
    await expect(dialog.getByTestId('instance-note').textContent()).resolves.toBe(
      'ServiceNow will be disconnected for your organization.',
    );
    await screenshot(page, 'disconnect-dialog', { fullPage: false });

    // Focus starts on Cancel (the safe choice) and Tab / Shift+Tab cycle inside the dialog.
    await expect(focused()).resolves.toEqual({ text: 'Cancel', inDialog: true });
    await page.keyboard.press('Tab');
    await expect(focused()).resolves.toEqual({ text: 'Disconnect', inDialog: true });
    await page.keyboard.press('Tab');
    await expect(focused()).resolves.toEqual({ text: 'Cancel', inDialog: true });
    await page.keyboard.press('Shift+Tab');
    await expect(focused()).resolves.toEqual({ text: 'Disconnect', inDialog: true });

    // Escape closes it, changes nothing, and focus returns to the button that opened it.
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    await expect(focused()).resolves.toEqual({ text: 'Disconnect ServiceNow', inDialog: false });
    await card('ServiceNow').getByText('Connected', { exact: true }).waitFor();
  });

  it('confirm: live step progress to the final state with the revocation warning; Connect reappears', async () => {
    const { page } = h;
    // A sync runs (its provider's pages are slow) when the disconnect starts: the dialog says it will be cancelled.
    await h.fakeClient.configure({ pageDelayMs: 20_000 });
    await goTo('Connections');
    const tickets = card('ServiceNow').locator('tr[data-resource="tickets"]');
    await tickets.getByRole('button', { name: 'Run now tickets sync' }).click();
    await tickets.getByText('running', { exact: true }).waitFor({ timeout: 20_000 });
    await goTo('All Integrations');
    // The provider's revocation endpoint fails (slowly): the disconnect goes on and reports it.
    await h.fakeClient.configure({ revokeMode: '500', revokeDelayMs: 600 });
    // Every URL the page asks for, to check that the API token never travels in one (proxies log URLs).
    const urls: string[] = [];
    const onRequest = (r: { url(): string }): void => void urls.push(r.url());
    page.on('request', onRequest);
    await card('ServiceNow').getByRole('button', { name: 'Disconnect ServiceNow' }).click();
    const confirm = page.getByRole('dialog', { name: 'Disconnect ServiceNow?' });
    await confirm.getByTestId('disconnect-body').waitFor();
    // At least the one asked for (another job's first scheduled sync may be running too on a slow machine).
    await expect(confirm.getByTestId('jobs-warning').textContent()).resolves.toMatch(
      /(1 running sync|[2-9] running syncs) will be cancelled; records already synced are kept\./,
    );
    await confirm.getByRole('button', { name: 'Disconnect', exact: true }).click();
    // The title follows the disconnect: what happens now, then how it ended.
    await page
      .getByRole('dialog', { name: /^(Disconnecting ServiceNow…|ServiceNow disconnected)$/ })
      .waitFor();
    const dialog = page.getByRole('dialog');

    const steps = dialog.getByTestId('disconnect-steps');
    await steps.locator('[data-status="running"]').first().waitFor();
    await dialog.getByTestId('disconnect-result').waitFor({ timeout: 20_000 });
    await h.fakeClient.configure({ pageDelayMs: 0 });
    await page.getByRole('dialog', { name: 'ServiceNow disconnected' }).waitFor();
    // Every step done. The after-the-fact instance mark did not run (the lock held the instance of its last
    // connection, so the references were marked instance-wide beside the statuses): it is not listed as if it
    // might have; the mark says whose references it marked; the failed revocation says so.
    const shown = await steps
      .locator('li')
      .evaluateAll((els) =>
        els.map((e) => [
          e.getAttribute('data-step'),
          e.getAttribute('data-status'),
          e.querySelector('.step-label')?.textContent,
          e.querySelector('.step-meta')?.textContent,
        ]),
      );
    expect(shown.filter(([, status]) => status !== 'succeeded')).toEqual([]);
    expect(shown.map(([step]) => step)).not.toContain('mark-instance-references-stale');
    expect(shown).toContainEqual([
      'mark-references-stale',
      'succeeded',
      "Mark the instance's external references stale",
      'Done',
    ]);
    expect(shown).toContainEqual([
      'revoke-tokens',
      'succeeded',
      'Revoke OAuth tokens',
      'Done, but the provider did not confirm (see warnings)',
    ]);
    expect(shown.length).toBeGreaterThanOrEqual(8);
    await expect(dialog.getByTestId('disconnect-result').textContent()).resolves.toContain(
      'ServiceNow is disconnected.',
    );
    // The run it cancelled is reported.
    await expect(dialog.getByTestId('executions-cancelled').textContent()).resolves.toBe('1');
    await expect(dialog.getByTestId('disconnect-warnings').textContent()).resolves.toMatch(/revo/i);
    page.off('request', onRequest);
    // The live progress came over SSE, authenticated by its header like every other call.
    expect(urls.some((u) => u.includes('/trpc/disconnect.progress'))).toBe(true);
    expect(urls.filter((u) => /otk_|token|connectionParams/i.test(decodeURIComponent(u)))).toEqual(
      [],
    );
    await screenshot(page, 'disconnect-result', { fullPage: false });
    await expect(focused()).resolves.toEqual({ text: 'Close', inDialog: true });
    await dialog.getByRole('button', { name: 'Close' }).click();
    await h.fakeClient.configure({ revokeMode: 'ok', revokeDelayMs: 0 });

    const sn = card('ServiceNow');
    await sn.getByRole('button', { name: 'Connect ServiceNow' }).waitFor();
    await sn.getByText('Disconnected', { exact: true }).waitFor();

    // Its jobs are kept, disabled: Enable is not offered while the connection is disconnected, and says why.
    await goTo('Connections');
    const group = card('ServiceNow').locator('.sync-job-group');
    await group.locator('caption', { hasText: '(disconnected)' }).waitFor();
    await expect(group.locator('caption').allTextContents()).resolves.toEqual([
      'Organization connection, connected by you (disconnected)',
    ]);
    const enable = group.getByRole('button', { name: 'Enable tickets sync' });
    await expect(enable.isDisabled()).resolves.toBe(true);
    await expect(
      group.locator('tr[data-resource="tickets"]').getByTestId('enable-blocked').textContent(),
    ).resolves.toBe('Its connection was disconnected: connect again, then enable it.');
    await goTo('All Integrations');
  });

  it('disconnecting Postmark warns about the Email Builder and removes its senders', async () => {
    const { page } = h;
    await card('Postmark').getByRole('button', { name: 'Disconnect Postmark' }).click();
    const dialog = page.getByRole('dialog', { name: 'Disconnect Postmark?' });
    await dialog.getByTestId('dependent-warning').waitFor();
    await expect(
      dialog.getByTestId('dependent-warning').locator('.alert-title').textContent(),
    ).resolves.toBe('Disconnecting may affect Email Builder.');
    await expect(dialog.getByTestId('jobs-warning').count()).resolves.toBe(0);
    await dialog.getByRole('button', { name: 'Disconnect', exact: true }).click();
    const done = page.getByRole('dialog', { name: 'Postmark disconnected' });
    await done.getByTestId('disconnect-result').waitFor({ timeout: 20_000 });
    // An API key has no OAuth tokens (seed 000 step 3 is for OAuth providers): not applicable, not "Done".
    const revoke = done.locator('[data-step="revoke-tokens"]');
    await expect(revoke.getAttribute('data-note')).resolves.toBe('not_applicable');
    await expect(revoke.locator('.step-meta').textContent()).resolves.toBe(
      'Not applicable: an API key has no OAuth tokens',
    );
    await expect(done.getByTestId('disconnect-result').textContent()).resolves.toContain(
      'Not applicable (API key: no OAuth tokens)',
    );
    await page.keyboard.press('Escape');
    await done.waitFor({ state: 'detached' });
    await card('Postmark').getByRole('button', { name: 'Connect Postmark' }).waitFor();

    await goTo('Email Builder');
    const from = page.getByLabel('From');
    await from.locator('option', { hasText: 'No sender available' }).waitFor({ state: 'attached' });
    await expect(from.locator('option').allTextContents()).resolves.toEqual([
      'No sender available',
    ]);
  });

  it('reconnect after an expired refresh token: the warning, then Reconnect through the provider', async () => {
    const { page } = h;
    // The provider expires the refresh token, and the vault's access token is due: the next token use must refresh.
    await h.fakeClient.expireRefreshTokens({ clientId: 'otesse-dev-google' });
    await h.db.query(
      `update vault.credential set expires_at = now() - interval '1 minute'
        where vendor = 'google' and kind = 'access_token' and is_active`,
    );
    // A Google run that began while an earlier test slowed every provider page (pageDelayMs) still holds the token
    // it took before the expiry: "Run now" would only be coalesced into it. Wait until none is running.
    await waitFor(
      async () => {
        const [running] = await h.db.query<{ n: string }>(
          `select count(*) as n from sync.sync_execution e join sync.sync_job j on j.id = e.job_id
            where j.vendor = 'google' and e.status = 'running'`,
        );
        return running!.n === '0' || undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'no Google sync running' },
    );
    // The token use: "Run now" on the sync job meets invalid_grant, which flags the connection.
    await goTo('Connections');
    const google = card('Google Workspace');
    await google.getByRole('button', { name: 'Run now contacts sync' }).click();
    await waitFor(
      async () => {
        await page.reload();
        await google.waitFor();
        return (
          (await google.getByRole('button', { name: 'Reconnect Google Workspace' }).count()) > 0
        );
      },
      // A sync run, a refresh refused by the provider, an event to the connection service: seconds on a loaded machine.
      { timeoutMs: 40_000, intervalMs: 500, what: 'the Reconnect warning' },
    );
    // A persistent banner, not an interruption: a status, not an alert.
    await google
      .getByRole('status')
      .filter({ hasText: 'The refresh token has expired' })
      .first()
      .waitFor();
    // The admin may also switch to another user instead (the connected one may have left).
    await expect(
      google.getByRole('button', { name: 'Change user for Google Workspace' }).count(),
    ).resolves.toBe(1);
    await screenshot(page, 'reconnect-warning');
    await google.getByRole('button', { name: 'Reconnect Google Workspace' }).click();
    await backOnDashboard();
    // Back on the page it started from, not on All Integrations.
    await page.getByRole('heading', { level: 1, name: 'Connections' }).waitFor();
    await expect(page.getByTestId('oauth-result').textContent()).resolves.toContain(
      'Google Workspace is reconnected.',
    );
    await card('Google Workspace')
      .locator('.provider-card-head')
      .getByText('Connected', { exact: true })
      .waitFor();
    await expect(
      card('Google Workspace').getByRole('button', { name: 'Reconnect Google Workspace' }).count(),
    ).resolves.toBe(0);
  });

  it('Change User switches the connected account without disconnecting', async () => {
    const { page } = h;
    await goTo('Connections');
    const google = card('Google Workspace');
    const changeUser = google.getByRole('button', { name: 'Change user for Google Workspace' });
    // Before leaving, the button says (and is described by) what to do at the provider.
    const hintId = await changeUser.getAttribute('aria-describedby');
    await expect(google.locator(`[id="${hintId}"]`).textContent()).resolves.toBe(
      'Change user sends you to Google Workspace, which will ask which account to use: choose another user of your organization there, not alice@acme.test.',
    );
    // Still signed in at the provider as the connected account: it comes back, and the banner does not claim a switch.
    await h.fakeClient.consentAs('u-alice');
    await changeUser.click();
    await backOnDashboard();
    const result = page.getByTestId('oauth-result');
    await expect(result.textContent()).resolves.toContain(
      'You signed in to Google Workspace as the same account (alice@acme.test), so the connected user did not change.',
    );
    await expect(result.getAttribute('role')).resolves.toBe('status');

    await h.fakeClient.consentAs('u-bob');
    await changeUser.click();
    await backOnDashboard();
    await page.getByRole('heading', { level: 1, name: 'Connections' }).waitFor();
    expect(new URL(page.url()).hash).toBe('#/connections');
    await expect(result.textContent()).resolves.toContain(
      'Google Workspace is now connected as bob@acme.test.',
    );
    await google.getByText('bob@acme.test').first().waitFor();
    await expect(google.textContent()).resolves.not.toContain('alice@acme.test');
    expect(page.url()).toContain(h.dashboardUrl);
  });

  it('a viewer sees the state and the audit log, but nothing to connect or disconnect for the organization', async () => {
    const { page } = h;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').waitFor();
    await signIn(h, h.viewer);
    const google = card('Google Workspace');
    await google.getByText('Connected', { exact: true }).waitFor();
    await expect(
      google.getByRole('button', { name: /Disconnect|Reconnect/ }).count(),
    ).resolves.toBe(0);
    await expect(card('Zendesk').getByLabel('Zendesk subdomain').count()).resolves.toBe(0);
    // Who made the organization's connection, by name, as on every other screen.
    await goTo('Connections');
    const org = card('Google Workspace').locator('.connection[data-level="app"]');
    await expect(
      org
        .locator('div', { has: page.locator('dt', { hasText: 'Connected by' }) })
        .locator('dd')
        .textContent(),
    ).resolves.toBe(`${h.admin.name} (${h.admin.email})`);
    await card('Google Workspace').locator('.sync-job-group caption').first().waitFor();
    await expect(
      card('Google Workspace').locator('.sync-job-group caption').allTextContents(),
    ).resolves.toEqual([`Organization connection, connected by ${h.admin.name}`]);
    await goTo('Audit log');
    await page.locator('tbody tr').first().waitFor();
    await expect(
      page.locator('tbody tr').first().locator('td').nth(3).textContent(),
    ).resolves.not.toMatch(/User [0-9a-f]{8}/);
  });

  it('a token revoked while signed in signs out at the next call, saying why', async () => {
    const { page } = h;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').waitFor();
    // A token of its own, so the viewer's usual one stays valid.
    const { id, token } = await createUserToken(h, h.viewer.id);
    await signIn(h, { ...h.viewer, token });
    await goTo('Operations');
    await h.db.query(`update edge.api_token set revoked_at = now() where id = $1`, [id]);
    // The operations page asks again every few seconds: its refusal brings the sign-in screen, with why.
    await page.getByLabel('API token').waitFor({ timeout: 20_000 });
    await page
      .getByText('Your token was not accepted (expired or revoked). Sign in again.')
      .waitFor();
    await expect(page.getByTestId('current-user').count()).resolves.toBe(0);
    // The browser logs the refused call itself (401): that one, and only that one, was expected.
    const refused = h.consoleErrors.filter((e) => e.includes('status of 401 (Unauthorized)'));
    expect(refused.length).toBeGreaterThan(0);
    h.consoleErrors.splice(
      0,
      h.consoleErrors.length,
      ...h.consoleErrors.filter((e) => !refused.includes(e)),
    );
    await signIn(h, h.viewer);
  });

  it('an admin sees a member’s personal connection with its owner and disconnects it on their behalf', async () => {
    const { page } = h;
    // The member connects their own Google account beside the organization's.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').waitFor();
    // A colleague's account of the same company: the org's Google is pinned to acme.
    await h.fakeClient.setUsers([
      { id: 'u-dana', email: 'dana@acme.test', name: 'Dana Diaz', tenantId: 'acme' },
    ]);
    await h.fakeClient.consentAs('u-dana');
    await signIn(h, h.member);
    await card('Google Workspace')
      .getByRole('button', { name: 'Connect my account Google Workspace' })
      .click();
    await backOnDashboard();
    await card('Google Workspace')
      .getByRole('button', { name: 'Disconnect my account Google Workspace' })
      .waitFor();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').waitFor();
    await signIn(h, h.admin);
    await goTo('Connections');
    const google = card('Google Workspace');
    const theirs = google.locator('.connection', {
      has: page.getByRole('heading', { name: 'Personal connection of Max Member' }),
    });
    await theirs.waitFor();
    // One job per connection, each under whose connection it is: no more two anonymous "Contacts" rows.
    await google.locator('.sync-job-group caption').nth(1).waitFor();
    await expect(google.locator('.sync-job-group caption').allTextContents()).resolves.toEqual([
      'Organization connection, connected by you',
      'Personal connection of Max Member',
    ]);
    const connectionId = (await theirs.getAttribute('data-connection-id'))!;
    await expect(theirs.textContent()).resolves.toContain('Max Member (member@acme.test)');
    await expect(theirs.textContent()).resolves.toContain('(u-dana)');

    // Its refresh token expires (the provider path is covered by the edge's integrations-list test): the admin
    // cannot reconnect someone else's personal account, so it shows on that connection, not as a warning.
    await h.db.query(
      `update connection.integration_connection set refresh_token_expired = true where id = $1`,
      [connectionId],
    );
    await page.reload();
    await theirs.getByText('Needs its owner to reconnect', { exact: true }).waitFor();
    await expect(google.getByText('Reconnect needed').count()).resolves.toBe(0);
    await expect(google.getByRole('button', { name: /Reconnect/ }).count()).resolves.toBe(0);
    await expect(theirs.getByRole('button', { name: /Change user/ }).count()).resolves.toBe(0);

    // Disconnect on the member's behalf, through the same dialog.
    await theirs
      .getByRole('button', { name: 'Disconnect Google Workspace for Max Member' })
      .click();
    // The dialog says whose connection it is.
    const confirm = page.getByRole('dialog', {
      name: "Disconnect Max Member's Google Workspace connection?",
    });
    await confirm.getByTestId('disconnect-body').waitFor();
    await confirm
      .getByText("This is Max Member's personal connection.", { exact: false })
      .waitFor();
    await expect(confirm.getByTestId('instance-note').textContent()).resolves.toBe(
      "The organization's connection keeps Google Workspace connected for your organization; only this connection is revoked.",
    );
    await confirm.getByRole('button', { name: 'Disconnect', exact: true }).click();
    const dialog = page.getByRole('dialog');
    const result = dialog.getByTestId('disconnect-result');
    await result.waitFor({ timeout: 20_000 });
    await expect(result.textContent()).resolves.toContain('Google Workspace is disconnected.');
    await expect(result.textContent()).resolves.toContain('Other users keep it connected');
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'detached' });
    // The list refreshed: the member's connection is gone, the organization's stays.
    await theirs.waitFor({ state: 'detached' });
    await expect(
      google.locator(`.connection[data-connection-id="${connectionId}"]`).count(),
    ).resolves.toBe(0);
    // Its job is kept, disabled, under whose it was.
    await google
      .locator(`.sync-job-group[data-connection-id="${connectionId}"] caption`, {
        hasText: 'Personal connection of Max Member (disconnected)',
      })
      .waitFor();
    await google.getByRole('heading', { name: 'Organization connection' }).waitFor();

    // The audit log names the admin as the actor, on behalf of the member, for that connection (the entry is
    // written by the audit service from its stream: wait for it through the API, then read the page).
    const api = createTRPCClient<AppRouter>({
      links: [
        httpBatchLink({
          url: `${h.stack.edgeUrl}/trpc`,
          headers: { authorization: `Bearer ${h.admin.token}` },
        }),
      ],
    });
    const entries = await waitFor(
      async () => {
        const { entries } = await api.audit.list.query({
          filters: { action: 'connection.disconnected', provider: 'google' },
        });
        return entries.length > 0 ? entries : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 200, what: 'the audit entry of the disconnect' },
    );
    expect(entries).toEqual([
      expect.objectContaining({
        actorUserId: h.admin.id,
        onBehalfOfUserId: h.member.id,
        outcome: 'success',
        targets: expect.objectContaining({ connectionId }),
      }),
    ]);
    await goTo('Audit log');
    await page.getByLabel('Provider').selectOption('google');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    const row = page.locator('tbody tr[data-action="connection.disconnected"]');
    await row.first().waitFor();
    await expect(row.count()).resolves.toBe(1);
    const actor = await row.locator('td').nth(3).textContent();
    expect(actor).toContain(`You (${h.admin.email})`);
    expect(actor).toContain(`for ${h.member.name} (${h.member.email})`);

    // The actor filter: searched for by name or email, then a member picked by name (the API still filters by id).
    await page.getByRole('button', { name: 'Reset' }).click();
    const actorSelect = page.getByLabel('Actor', { exact: true });
    const actorSearch = page.getByLabel('Search actors');
    const actorChoices = () => actorSelect.locator('option').allTextContents();
    const memberLabel = `${h.member.name} (${h.member.email})`;
    const untilChoices = (want: string[]) =>
      waitFor(
        async () => {
          const got = await actorChoices();
          return JSON.stringify(got) === JSON.stringify(want) ? got : undefined;
        },
        { timeoutMs: 10_000, intervalMs: 100, what: `the actor choices ${want.join(', ')}` },
      );
    // No search: the signed-in user first, as "You", then the others by name.
    await untilChoices([
      'Anyone',
      `You (${h.admin.email})`,
      memberLabel,
      `${h.viewer.name} (${h.viewer.email})`,
    ]);
    // Case-insensitive, by name or email: only the matches (after the debounce).
    await actorSearch.fill('MEMBER@');
    await untilChoices(['Anyone', memberLabel]);
    await actorSelect.selectOption({ label: memberLabel });
    // The selected actor stays offered by name while the search moves on.
    await actorSearch.fill('nobody by that name');
    await page.getByText('No one else matches.').waitFor();
    await expect(actorChoices()).resolves.toEqual(['Anyone', memberLabel]);
    await expect(actorSelect.inputValue()).resolves.toBe(h.member.id);
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByText('Showing 1 entry (all).').waitFor();
    const byMember = page.locator('tbody tr');
    await expect(byMember.first().getAttribute('data-action')).resolves.toBe(
      'connection.connected',
    );
    await expect(byMember.first().locator('td').nth(3).textContent()).resolves.toContain(
      `${h.member.name} (${h.member.email})`,
    );
    await page.getByRole('button', { name: 'Reset' }).click();
  });

  it('a crafted link cannot put sites in the picker: a `sites` parameter in the URL is ignored', async () => {
    const { page } = h;
    const crafted = new URL(h.dashboardUrl);
    for (const [k, v] of Object.entries({
      oauth: 'refused',
      vendor: 'confluence',
      reason: 'site_choice_required',
      flow: 'user',
      sites: JSON.stringify([{ id: 'evil', name: 'Acme (official)' }]),
    }))
      crafted.searchParams.set(k, v);
    await page.goto(crafted.toString());
    const banner = page.getByTestId('oauth-result');
    await expect(banner.textContent()).resolves.toContain(
      'Confluence could not be connected (that account reaches several sites and none is chosen for your organization yet).',
    );
    // No list came from the edge, so no site is offered, least of all the URL's.
    await expect(
      banner.getByRole('group', { name: 'Sites this account reaches' }).count(),
    ).resolves.toBe(0);
    await expect(banner.textContent()).resolves.not.toContain('Acme (official)');
    expect(new URL(page.url()).search).toBe('');
    await banner.getByRole('button', { name: 'Dismiss' }).click();
  });

  it('an account that reaches several Atlassian sites: the admin picks the site in the banner, and connects on it', async () => {
    const { page } = h;
    // Sam reaches Initech and Acme (Atlassian lists Initech first).
    await h.fakeClient.setUsers([
      { id: 'u-sam', email: 'sam@acme.test', name: 'Sam', tenantId: 'acme', sites: ['initech'] },
    ]);
    await h.fakeClient.consentAs('u-sam');
    await goTo('All Integrations');
    const confluence = card('Confluence');
    const returned = page.waitForRequest(
      (r) => r.url().startsWith(h.dashboardUrl) && r.url().includes('oauth='),
    );
    await confluence.getByRole('button', { name: 'Connect Confluence' }).click();
    await backOnDashboard();
    // The sites are the edge's record of this connect, fetched by its id: none travel in the URL.
    const back = new URL((await returned).url()).searchParams;
    expect(back.get('siteChoice')).toMatch(/^[0-9a-f-]{36}$/);
    expect(back.has('sites')).toBe(false);
    const banner = page.getByTestId('oauth-result');
    await expect(banner.textContent()).resolves.toContain(
      'Confluence could not be connected (that account reaches several sites and none is chosen for your organization yet).',
    );
    await expect(banner.textContent()).resolves.toContain(
      'Choose the site your organization uses; you connect again on it.',
    );
    const sites = banner.getByRole('group', { name: 'Sites this account reaches' });
    // The banner reads the sites by the authorization's id after it shows (its own query): wait for them.
    await sites.getByRole('button', { name: 'Use Acme' }).waitFor();
    await expect(sites.getByRole('button').allTextContents()).resolves.toEqual([
      'Use Initech',
      'Use Acme',
    ]);
    await screenshot(page, 'site-choice');
    await sites.getByRole('button', { name: 'Use Acme' }).click();
    // Stored on the instance, then through the provider again and back, connected.
    await page.waitForURL(
      (u) => u.origin === h.dashboardUrl && u.search.includes('oauth=connected'),
    );
    await expect(page.getByTestId('oauth-result').textContent()).resolves.toContain(
      'Confluence is connected.',
    );
    await goTo('Connections');
    await expect(confluence.textContent()).resolves.toContain('site Acme');
    await confluence.getByText('Acme (acme)', { exact: true }).waitFor();

    // Its dependent feature's warning agrees with seed 000: synced data is kept, nothing leaves the results.
    await confluence.getByRole('button', { name: 'Disconnect Confluence' }).click();
    const dialog = page.getByRole('dialog', { name: 'Disconnect Confluence?' });
    const dependent = dialog.getByTestId('dependent-warning');
    await dependent.waitFor();
    await expect(dependent.textContent()).resolves.toContain('pages already synced are kept');
    await expect(dependent.textContent()).resolves.not.toContain('removes');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
  });

  it('an admin gives a connected QuickBooks its webhook signing secret; signed deliveries are then accepted', async () => {
    const { page } = h;
    await goTo('All Integrations');
    const qb = card('QuickBooks');
    await qb.getByRole('button', { name: 'Connect QuickBooks' }).click();
    await backOnDashboard();
    await goTo('Connections');
    const panel = qb.getByRole('region', { name: 'Inbound webhooks' });
    await panel.getByText('not set', { exact: true }).waitFor();
    const url = (await panel.locator('code').textContent()) ?? '';
    expect(url).toMatch(new RegExp(`^${h.stack.edgeUrl}/webhooks/quickbooks/[0-9a-f-]{36}$`));
    await expect(panel.textContent()).resolves.toContain('Verifier token');

    const deliver = () =>
      fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'intuit-signature': signedBy('quickbooks', QB_SECRET, QB_BODY),
        },
        body: QB_BODY,
      });
    expect((await deliver()).status).toBe(401);
    // The admin sees why (the sender learned only 401).
    await waitFor(
      async () => {
        await goTo('All Integrations');
        await goTo('Connections');
        await panel.getByText('Endpoint URL').waitFor();
        return (await panel.textContent())?.includes('no signing secret is set here yet');
      },
      { timeoutMs: 20_000, intervalMs: 300, what: "the endpoint's last refusal" },
    );

    const secret = panel.getByLabel('Signing secret');
    await secret.fill(QB_SECRET);
    await panel.getByRole('button', { name: 'Save secret' }).click();
    await panel.getByText('Signing secret saved.').waitFor();
    await panel.getByText(/^Set /).waitFor();
    // Refused until then; accepted now.
    await expect(
      panel
        .locator('div', { has: page.locator('dt', { hasText: 'Deliveries' }) })
        .locator('dd')
        .textContent(),
    ).resolves.toBe('accepted');
    // Never shown again: the field is emptied and the page holds it nowhere.
    await expect(panel.getByLabel('Replace the signing secret').inputValue()).resolves.toBe('');
    await expect(page.content()).resolves.not.toContain(QB_SECRET);
    await expect(panel.textContent()).resolves.toContain('none yet');
    expect((await deliver()).status).toBe(202);
    // The delivery shows on the card (recorded by the connection service's consumer; the page loads it anew).
    await waitFor(
      async () => {
        await goTo('All Integrations');
        await goTo('Connections');
        await panel.getByText('Last delivery').waitFor();
        return !(await panel.textContent())?.includes('none yet');
      },
      { timeoutMs: 20_000, intervalMs: 300, what: 'the last delivery on the card' },
    );
  });

  it('an admin replaces the QuickBooks secret keeping the old one for a day, then stops the old one', async () => {
    const { page } = h;
    const panel = card('QuickBooks').getByRole('region', { name: 'Inbound webhooks' });
    const url = (await panel.locator('code').first().textContent()) ?? '';
    const deliver = (secret: string, n: number) => {
      const body = JSON.stringify({ eventNotifications: [{ realmId: 'r1', n }] });
      return fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'intuit-signature': signedBy('quickbooks', secret, body),
        },
        body,
      });
    };
    await panel.getByLabel('Replace the signing secret').fill(QB_SECRET_NEXT);
    await panel
      .getByLabel('Keep accepting the current one')
      .selectOption({ label: 'for 24 hours' });
    await panel.getByRole('button', { name: 'Save secret' }).click();
    await panel.getByText('Previous signing secret', { exact: true }).waitFor();
    await expect(panel.textContent()).resolves.toContain('not used since it was replaced');
    // QuickBooks still signs with the old secret for a while, then with the new one: nothing is refused.
    expect((await deliver(QB_SECRET, 1)).status).toBe(202);
    expect((await deliver(QB_SECRET_NEXT, 2)).status).toBe(202);
    await waitFor(
      async () => {
        await goTo('All Integrations');
        await goTo('Connections');
        await panel.getByText('Previous signing secret', { exact: true }).waitFor();
        return (await panel.textContent())?.includes('QuickBooks has not switched yet');
      },
      { timeoutMs: 20_000, intervalMs: 300, what: "the previous secret's last use" },
    );
    await expect(page.content()).resolves.not.toContain(QB_SECRET);
    await screenshot(page, 'webhooks');

    await panel.getByRole('button', { name: 'Stop accepting it' }).click();
    await panel.getByText('The previous signing secret is no longer accepted.').waitFor();
    await expect(panel.getByText('Previous signing secret', { exact: true }).count()).resolves.toBe(
      0,
    );
    expect((await deliver(QB_SECRET, 3)).status).toBe(401);
    expect((await deliver(QB_SECRET_NEXT, 4)).status).toBe(202);

    // Removing the secret asks first, then every delivery is refused until a new one is set.
    await panel.getByRole('button', { name: 'Remove', exact: true }).click();
    const confirm = panel.getByRole('alertdialog', { name: 'Remove the signing secret?' });
    await expect(confirm.textContent()).resolves.toContain(
      'Every delivery from QuickBooks will be refused until a new signing secret is set',
    );
    await confirm.getByRole('button', { name: 'Remove the signing secret' }).click();
    await panel.getByText('not set', { exact: true }).waitFor();
    expect((await deliver(QB_SECRET_NEXT, 5)).status).toBe(401);
  });

  it("Postmark's webhooks: the admin generates a password, copies it into the URL, and deliveries carry it", async () => {
    const { page } = h;
    await goTo('All Integrations');
    const postmark = card('Postmark');
    await postmark.getByRole('button', { name: 'Connect Postmark' }).click();
    await postmark.getByLabel('Server API token').fill('pm-server-token-0002');
    await postmark.getByLabel('Sender emails').fill('billing@acme.test');
    await postmark.getByRole('button', { name: 'Connect Postmark' }).click();
    await postmark.getByText('Connected', { exact: true }).waitFor();
    await goTo('Connections');
    const panel = card('Postmark').getByRole('region', { name: 'Inbound webhooks' });
    await panel.getByText('not set', { exact: true }).waitFor();
    const [url = '', withCredentials = ''] = await panel
      .locator('code.webhook-url')
      .allTextContents();
    expect(withCredentials).toBe(url.replace('://', '://otesse:<password>@'));

    await panel.getByRole('button', { name: 'Generate' }).click();
    const field = panel.getByLabel('Password', { exact: true });
    const password = await field.inputValue();
    expect(password).toMatch(/^[A-Za-z0-9_-]{32}$/);
    // Shown, to be copied into Postmark's URL.
    await expect(field.getAttribute('type')).resolves.toBe('text');
    await panel.getByRole('button', { name: 'Save password' }).click();
    await panel.getByText('Password saved.').waitFor();
    await expect(panel.getByLabel('Replace the password').inputValue()).resolves.toBe('');
    await expect(page.content()).resolves.not.toContain(password);

    const deliver = (pass: string) =>
      fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Basic ${Buffer.from(`otesse:${pass}`).toString('base64')}`,
        },
        body: JSON.stringify({ RecordType: 'Delivery', MessageID: 'm-1' }),
      });
    expect((await deliver(`${password}x`)).status).toBe(401);
    expect((await deliver(password)).status).toBe(202);
  });

  it('a disconnect that stops part-way says where and why, on the card too; Resume finishes it', async () => {
    const { page } = h;
    // A bad deploy of the connection service: revoking a connection fails in Postgres, past the point of no return.
    const fix = await failUpdatesWhere(h.db, {
      name: 'refuse_revoke',
      table: 'connection.integration_connection',
      when: `new.status = 'revoked'`,
      message: 'column "revoked_reason" does not exist',
    });
    const postmark = card('Postmark');
    await postmark.getByRole('button', { name: 'Disconnect Postmark' }).click();
    const confirm = page.getByRole('dialog', { name: 'Disconnect Postmark?' });
    await confirm.getByTestId('disconnect-body').waitFor();
    await confirm.getByRole('button', { name: 'Disconnect', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Disconnect of Postmark stopped part-way' });
    const result = dialog.getByTestId('disconnect-result');
    await result.waitFor({ timeout: 40_000 });
    await expect(result.textContent()).resolves.toContain(
      'The disconnect of Postmark stopped part-way.',
    );
    await expect(
      dialog
        .getByTestId('disconnect-steps')
        .locator('[data-step="update-statuses"]')
        .getAttribute('data-status'),
    ).resolves.toBe('failed');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });

    // Closed, the card still says it, with the way out.
    const notice = postmark.getByTestId('operation-stopped');
    await notice.waitFor();
    await expect(notice.locator('.alert-title').textContent()).resolves.toBe(
      'The disconnect stopped at “Update statuses”.',
    );
    await postmark.scrollIntoViewIfNeeded();
    await screenshot(page, 'operation-stopped', { fullPage: false });
    // The menu counts it; the Operations page lists it among the stopped ones, where and why.
    await expect(page.getByTestId('stopped-operations').textContent()).resolves.toBe(
      '1 operation stopped part-way',
    );
    await goTo('Operations');
    await page.getByLabel('Status').selectOption('stopped');
    const row = page.locator('tr[data-status="failed"]', { hasText: 'Postmark' });
    await row.waitFor();
    await expect(row.textContent()).resolves.toContain('Update statuses');
    await expect(row.getByRole('button', { name: 'Resume' }).count()).resolves.toBe(1);
    await screenshot(page, 'operations', { fullPage: false });
    // The catalogue card says so too, instead of "Connected", and offers no Disconnect meanwhile.
    await goTo('All Integrations');
    const catalogued = card('Postmark');
    await catalogued.getByText('Disconnect stopped', { exact: true }).waitFor();
    await catalogued.getByTestId('catalogue-operation').waitFor();
    await expect(
      catalogued.getByRole('button', { name: 'Disconnect Postmark' }).count(),
    ).resolves.toBe(0);
    await fix();

    await goTo('Connections');
    await notice.getByRole('button', { name: 'Resume disconnect' }).click();
    const resumed = page.getByRole('dialog', { name: 'Postmark disconnected' });
    await resumed.getByTestId('disconnect-result').waitFor({ timeout: 20_000 });
    await expect(resumed.getByTestId('disconnect-result').textContent()).resolves.toContain(
      'Postmark is disconnected.',
    );
    await resumed.getByRole('button', { name: 'Close' }).click();
    await resumed.waitFor({ state: 'detached' });
    await goTo('Operations');
    await page.getByTestId('stopped-operations').waitFor({ state: 'detached' });
    await page.getByLabel('Status').selectOption('completed');
    const done = page.locator('tr[data-status="completed"]', { hasText: 'resumed 1 time' });
    await expect(done.textContent()).resolves.toContain('Postmark');
    await goTo('All Integrations');
    await card('Postmark').getByRole('button', { name: 'Connect Postmark' }).waitFor();
  });

  it('a disconnect that stops after revoking the connection stays on its card, to resume', async () => {
    const { page } = h;
    const postmark = card('Postmark');
    await postmark.getByRole('button', { name: 'Connect Postmark' }).click();
    await postmark.getByLabel('Server API token').fill('pm-server-token-0002');
    await postmark.getByLabel('Sender emails').fill('billing@acme.test');
    await postmark.getByRole('button', { name: 'Connect Postmark' }).click();
    await postmark.getByText('Connected', { exact: true }).waitFor();
    // The vault cannot destroy credentials: the statuses (a concurrent step) are updated, then the saga stops.
    const fix = await failUpdatesWhere(h.db, {
      name: 'refuse_destroy',
      table: 'vault.credential',
      when: 'new.is_deleted',
      message: 'disk full',
    });
    try {
      await postmark.getByRole('button', { name: 'Disconnect Postmark' }).click();
      const confirm = page.getByRole('dialog', { name: 'Disconnect Postmark?' });
      await confirm.getByTestId('disconnect-body').waitFor();
      await confirm.getByRole('button', { name: 'Disconnect', exact: true }).click();
      const dialog = page.getByRole('dialog', { name: 'Disconnect of Postmark stopped part-way' });
      await dialog.getByTestId('disconnect-result').waitFor({ timeout: 40_000 });
      // Said in words: the step's label, no service message.
      await expect(dialog.getByTestId('disconnect-result').textContent()).resolves.toContain(
        '“Destroy stored credentials” kept failing',
      );
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached' });

      // The catalogue: neither "Not connected" nor a Connect, but the stopped disconnect.
      await postmark.getByText('Disconnect stopped', { exact: true }).waitFor();
      await expect(
        postmark.getByRole('button', { name: 'Connect Postmark' }).count(),
      ).resolves.toBe(0);
      // Its card on Connections: the revoked connection with the stopped disconnect and Resume.
      await goTo('Connections');
      await postmark.getByTestId('revoked-unfinished').waitFor();
      await expect(postmark.getByText('Not connected.', { exact: false }).count()).resolves.toBe(0);
      await postmark.getByTestId('operation-stopped').waitFor();
      // Show steps: where it stopped, on the revoked connection; nothing to confirm, and no Disconnect to start.
      const showSteps = postmark
        .getByTestId('operation-stopped')
        .getByRole('button', { name: 'Show steps of the Postmark disconnect' });
      await showSteps.click();
      const steps = page.getByRole('dialog', { name: 'Disconnect of Postmark stopped part-way' });
      const step = (name: string) =>
        steps.getByTestId('disconnect-steps').locator(`[data-step="${name}"]`);
      await expect(step('destroy-credentials').getAttribute('data-status')).resolves.toBe('failed');
      await expect(step('update-statuses').getAttribute('data-status')).resolves.toBe('succeeded');
      await expect(steps.getByTestId('disconnect-result').textContent()).resolves.toContain(
        '“Destroy stored credentials” kept failing',
      );
      await expect(
        steps.getByRole('button', { name: 'Disconnect', exact: true }).count(),
      ).resolves.toBe(0);
      await page.keyboard.press('Escape');
      await steps.waitFor({ state: 'detached' });
      await expect(focused()).resolves.toMatchObject({
        text: 'Show steps of the Postmark disconnect',
      });
      await fix();
      await postmark
        .getByTestId('operation-stopped')
        .getByRole('button', { name: 'Resume disconnect of Postmark' })
        .click();
      const resumed = page.getByRole('dialog', { name: 'Postmark disconnected' });
      await resumed.getByTestId('disconnect-result').waitFor({ timeout: 20_000 });
      await resumed.getByRole('button', { name: 'Close' }).click();
      await resumed.waitFor({ state: 'detached' });
      await postmark.getByText('Not connected.', { exact: false }).waitFor();
    } finally {
      await fix();
    }
  });

  it('an admin’s card shows the oldest members’ personal connections and pages in the rest on demand', async () => {
    const { page } = h;
    // 104 more members connect Google with their own account (seeded as the connection service stores them).
    await h.db.query(
      `insert into edge.app_user (id, org_id, email, name, permissions, created_at)
       select gen_random_uuid(), $1, 'seed-' || lpad(n::text, 4, '0') || '@acme.test',
              'Seed ' || lpad(n::text, 4, '0'), '[]'::jsonb, now()
         from generate_series(1, 104) n`,
      [h.orgId],
    );
    await h.db.query(
      `insert into connection.integration_connection
         (id, org_id, instance_id, vendor, level, user_id, status, external_account_id, details, connected_at,
          created_at, updated_at)
       select gen_random_uuid(), $1, i.id, 'google', 'user', u.id, 'connected', 'acct-' || u.email, '{}'::jsonb,
              now(), now() + (substr(u.email, 6, 4)::int * interval '1 millisecond'), now()
         from edge.app_user u
         join connection.integration_instance i on i.org_id = $1 and i.vendor = 'google'
        where u.org_id = $1 and u.email like 'seed-%@acme.test'`,
      [h.orgId],
    );
    const [{ others } = { others: 0 }] = await h.db.query<{ others: number }>(
      `select count(*)::int as others from connection.integration_connection
        where org_id = $1 and vendor = 'google' and level = 'user'
          and status in ('pending', 'connected', 'disconnecting') and user_id <> $2`,
      [h.orgId, h.admin.id],
    );
    const hidden = others - 100;
    expect(hidden).toBeGreaterThan(0);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').waitFor();
    await signIn(h, h.admin);
    await goTo('Connections');
    const google = card('Google Workspace');
    const more = google.getByTestId('more-member-connections');
    await more.waitFor();
    await expect(more.textContent()).resolves.toContain(
      `${hidden} more members connected with their own account.`,
    );
    await expect(
      google.getByRole('heading', { name: 'Personal connection of Seed 0104' }).count(),
    ).resolves.toBe(0);
    await more.getByRole('button', { name: `Show ${hidden} more` }).click();
    // The newest member's connection is there now, with its Disconnect on their behalf; nothing is left to show.
    await google.getByRole('heading', { name: 'Personal connection of Seed 0104' }).waitFor();
    await google
      .getByRole('button', { name: 'Disconnect Google Workspace for Seed 0104' })
      .waitFor();
    await more.waitFor({ state: 'detached' });
  });

  it('a connect left unfinished shows on its card with Cancel connect; cancelling frees it, and Connect is back', async () => {
    const { page } = h;
    // An organization HubSpot connect whose edge died mid-callback: its connection stays pending.
    await leaveUnfinishedConnect(h, {
      vendor: 'hubspot',
      level: 'app',
      userId: h.admin.id,
      externalAccountId: 'u-alice',
    });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').waitFor();
    await signIn(h, h.admin);
    await goTo('All Integrations');
    const hubspot = card('HubSpot');
    await hubspot.getByText('Pending', { exact: true }).waitFor();
    await expect(hubspot.getByRole('button', { name: /^Connect/ }).count()).resolves.toBe(0);
    await hubspot
      .getByTestId('connect-unfinished-note')
      .getByRole('link', { name: 'Connections page' })
      .click();
    await h.page.getByRole('heading', { level: 1, name: 'Connections' }).waitFor();

    const pending = card('HubSpot').locator('.connection', {
      has: page.getByRole('heading', { name: 'Organization connection' }),
    });
    await expect(pending.textContent()).resolves.toMatch(/Started by.*You.*Started/);
    await expect(pending.getByTestId('connect-unfinished').textContent()).resolves.toContain(
      'A connect of HubSpot has not finished.',
    );
    await pending.scrollIntoViewIfNeeded();
    await screenshot(page, 'connect-unfinished', { fullPage: false });
    await pending.getByRole('button', { name: 'Cancel connect' }).click();
    await pending.waitFor({ state: 'detached' });
    await card('HubSpot').getByText('Instance not connected yet').waitFor();

    await goTo('All Integrations');
    await hubspot.getByRole('button', { name: 'Connect HubSpot' }).waitFor();
    await expect(hubspot.getByText('Pending', { exact: true }).count()).resolves.toBe(0);
    await goTo('Audit log');
    await page.getByText('connect_cancelled').first().waitFor();
  });

  // Last in the file: it leaves QuickBooks connected to another company (globex).
  it('an admin unlinks a disconnected QuickBooks from its company (its data erased); another company then connects', async () => {
    const { page } = h;
    const qb = card('QuickBooks');
    const qbData = async () => {
      const [row] = await h.db.query<{ records: number; refs: number; running: number }>(
        `select (select count(*)::int from sync.synced_record r where r.instance_id = i.id) as records,
                (select count(*)::int from sync.external_reference x where x.instance_id = i.id) as refs,
                (select count(*)::int from sync.sync_execution e join sync.sync_job j on j.id = e.job_id
                  where j.instance_id = i.id and e.status = 'running') as running
           from connection.integration_instance i where i.org_id = $1 and i.vendor = 'quickbooks'`,
        [h.orgId],
      );
      return row!;
    };
    const disconnectQuickBooks = async () => {
      await qb.getByRole('button', { name: 'Disconnect QuickBooks' }).click();
      const confirm = page.getByRole('dialog', { name: 'Disconnect QuickBooks?' });
      await confirm.getByTestId('disconnect-body').waitFor();
      await confirm.getByRole('button', { name: 'Disconnect', exact: true }).click();
      const done = page.getByRole('dialog', { name: 'QuickBooks disconnected' });
      await done.getByTestId('disconnect-result').waitFor({ timeout: 20_000 });
      await done.getByRole('button', { name: 'Close' }).click();
      await done.waitFor({ state: 'detached' });
      await qb.getByRole('button', { name: 'Connect QuickBooks' }).waitFor();
    };
    try {
      // The webhook tests left QuickBooks connected: disconnect that, then connect as Alice, of acme (the company
      // it is pinned to), and sync some of acme's data.
      await goTo('All Integrations');
      await disconnectQuickBooks();
      await h.fakeClient.consentAs('u-alice');
      await qb.getByRole('button', { name: 'Connect QuickBooks' }).click();
      await backOnDashboard();
      await qb.getByText('Connected', { exact: true }).waitFor();
      await expect(qb.locator('.connected-as').textContent()).resolves.toContain('Linked to:acme');
      // Connected: nothing to unlink.
      await expect(qb.getByRole('button', { name: /^Unlink/ }).count()).resolves.toBe(0);
      await goTo('Connections');
      // The reconnect took over the disconnected connection's jobs, still disabled: enable one, run it.
      await qb.getByRole('button', { name: 'Enable invoices sync' }).click();
      await qb.getByRole('button', { name: 'Run now invoices sync', disabled: false }).click();
      await waitFor(
        async () => {
          const d = await qbData();
          return (d.records > 0 && d.refs > 0 && d.running === 0) || undefined;
        },
        { timeoutMs: 40_000, intervalMs: 250, what: "acme's QuickBooks data synced" },
      );
      await goTo('All Integrations');
      await disconnectQuickBooks();

      // Disconnected, still linked to acme: only an account of acme may connect. The admin may unlink it.
      const unlink = qb.getByRole('button', { name: 'Unlink QuickBooks from acme…' });
      await unlink.waitFor();
      await expect(qb.locator('.connected-as').textContent()).resolves.toContain('Linked to:acme');
      await expect(unlink.textContent()).resolves.toBe('Unlink…');

      // A member sees the link, but not the button.
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByLabel('API token').waitFor();
      await signIn(h, h.member);
      await qb.getByText('Linked to:', { exact: true }).waitFor();
      await expect(qb.getByRole('button', { name: /Unlink/ }).count()).resolves.toBe(0);
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByLabel('API token').waitFor();
      await signIn(h, h.admin);

      // The dialog: a real modal (Escape closes it, changing nothing).
      await unlink.click();
      const dialog = page.getByRole('dialog', { name: 'Unlink QuickBooks from acme?' });
      await dialog.getByTestId('unlink-body').waitFor();
      await expect(dialog.getAttribute('aria-modal')).resolves.toBe('true');
      await expect(focused()).resolves.toEqual({ text: 'Cancel', inDialog: true });
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached' });
      await expect(focused()).resolves.toEqual({ text: 'Unlink…', inDialog: false });

      await unlink.click();
      await dialog.getByTestId('unlink-body').waitFor();
      await expect(dialog.getByTestId('unlink-body').textContent()).resolves.toBe(
        'QuickBooks is linked to the company acme: only an account of it may connect. Afterwards an account of any company may connect QuickBooks; the first connection links it to its company.',
      );
      // What goes, for good: every record and reference of acme's, per resource.
      const { records, refs } = await qbData();
      const erases = dialog.getByTestId('unlink-erases');
      await expect(erases.locator('.alert-title').textContent()).resolves.toBe(
        `Unlinking permanently erases the ${records} synced records and ${refs} external references Otesse holds from acme.`,
      );
      await expect(erases.textContent()).resolves.toContain('This cannot be undone.');
      const perResource = await erases.locator('li[data-resource]').allTextContents();
      expect(perResource.length).toBeGreaterThan(0);
      for (const line of perResource)
        expect(line).toMatch(/^(Contacts|Invoices): \d+ records?, \d+ references?$/);
      // What stays.
      await expect(
        dialog.getByTestId('unlink-keeps').locator('li').allTextContents(),
      ).resolves.toEqual([
        'Connection history',
        'Sync job settings',
        'Field mappings',
        'Audit log',
      ]);
      await expect(dialog.getByTestId('unlink-blocked').count()).resolves.toBe(0);

      // The destructive button waits for the company, typed exactly.
      const confirm = dialog.getByRole('button', { name: 'Unlink and erase data' });
      await expect(confirm.isDisabled()).resolves.toBe(true);
      const typed = dialog.getByLabel('Type acme to confirm');
      await typed.fill('acm');
      await expect(confirm.isDisabled()).resolves.toBe(true);
      await typed.fill('ACME');
      await expect(confirm.isDisabled()).resolves.toBe(true);
      await typed.fill('acme');
      await expect(confirm.isEnabled()).resolves.toBe(true);
      await screenshot(page, 'unlink-dialog', { fullPage: false });
      await confirm.click();

      // Its steps, to the end.
      const finished = page.getByRole('dialog', { name: 'QuickBooks unlinked' });
      const result = finished.getByTestId('unlink-result');
      await result.waitFor({ timeout: 30_000 });
      await expect(result.textContent()).resolves.toBe(
        `QuickBooks is unlinked from acme.Erased ${records} synced records and ${refs} external references. An account of any company may connect QuickBooks now.`,
      );
      await expect(
        finished
          .getByTestId('unlink-steps')
          .locator('li')
          .evaluateAll((els) =>
            els.map((e) => [e.getAttribute('data-step'), e.getAttribute('data-status')]),
          ),
      ).resolves.toEqual([
        ['hold', 'succeeded'],
        ['erase-data', 'succeeded'],
        ['unpin-tenant', 'succeeded'],
        ['audit', 'succeeded'],
        ['publish-event', 'succeeded'],
      ]);
      await expect(focused()).resolves.toEqual({ text: 'Close', inDialog: true });
      await finished.getByRole('button', { name: 'Close' }).click();
      await finished.waitFor({ state: 'detached' });
      expect(await qbData()).toMatchObject({ records: 0, refs: 0 });

      // The card: no longer linked, no Unlink; Connect stays.
      await qb.locator('.connected-as').waitFor({ state: 'detached' });
      await expect(qb.textContent()).resolves.not.toContain('Linked to');
      await expect(qb.getByRole('button', { name: /^Unlink/ }).count()).resolves.toBe(0);

      // Another company's account may connect now, and links it to its own company.
      await h.fakeClient.consentAs('u-carol');
      await qb.getByRole('button', { name: 'Connect QuickBooks' }).click();
      await backOnDashboard();
      await expect(page.getByTestId('oauth-result').textContent()).resolves.toContain(
        'QuickBooks is connected.',
      );
      await qb.getByText('Connected', { exact: true }).waitFor();
      await expect(qb.locator('.connected-as').textContent()).resolves.toContain(
        'Linked to:globex',
      );
    } finally {
      await h.fakeClient.consentAs('u-alice');
    }
  });
});
