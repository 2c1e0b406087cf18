import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppError } from '@otesse/contracts';
import { Bus } from '@otesse/messaging';
import { TestBrowser } from '@otesse/testing';
import { DASHBOARD_URL, startHarness, type THarness } from '../test/e2e-harness';

/**
 * Seed 003's Change User lets the admin pick another account: where the provider has an account chooser (the
 * catalogue's `changeUserParams`), the authorize URL of a change of user asks for it; a connect's and a reconnect's
 * are the catalogue's own. A provider without one gets the very URL a reconnect gets.
 */
describe('the authorize URL of a change of user (whole stack as processes, fake provider)', () => {
  let h: THarness;
  let bus: Bus;
  beforeAll(async () => {
    h = await startHarness();
    bus = new Bus(h.nc);
  });
  afterAll(async () => {
    await h?.close();
  });

  /**
   * The dashboard posts the start link from its origin: the edge's 302 is the provider's authorize URL. `finish`
   * follows it in the same browser, signing in at the provider as `consentAs`; returns the dashboard's `oauth`.
   */
  const startAuthorization = async (vendor: string, action?: 'reconnect' | 'changeUser') => {
    const { url } = await h.admin.client.integrations.oauthUrl.query({
      vendor,
      flow: 'app',
      ...(action ? { action } : {}),
    });
    const browser = new TestBrowser();
    const start = await browser.post(url, {}, DASHBOARD_URL);
    expect(start.status).toBe(302);
    const authorize = new URL(start.headers.get('location')!);
    expect(authorize.origin).toBe(new URL(h.fake.url).origin);
    return {
      authorize,
      finish: async (consentAs: string) => {
        await h.fakeClient.consentAs(consentAs);
        const { stoppedAt } = await browser.follow(authorize.toString(), { stopAt: DASHBOARD_URL });
        return new URL(stoppedAt ?? 'http://x/').searchParams.get('oauth');
      },
    };
  };
  /** The URL's parameters without those new on every request. */
  const fixedParams = (authorize: URL): Record<string, string> => {
    const params = new URLSearchParams(authorize.search);
    for (const k of ['state', 'nonce', 'code_challenge']) params.delete(k);
    return Object.fromEntries(params);
  };
  /** The next token use needs a refresh, which the provider refuses: the connection asks for a reconnect. */
  const expireRefreshToken = async (vendor: string) => {
    const connectionId = (await h.admin.client.integrations.list.query()).find(
      (i) => i.provider.key === vendor,
    )!.appConnection!.id;
    const client = { clientId: `otesse-dev-${vendor}` };
    await h.fakeClient.expireAccessTokens(client);
    await h.fakeClient.expireRefreshTokens(client);
    await h.db.query(
      `update vault.credential set expires_at = now() - interval '1 minute' where connection_id = $1 and kind = 'access_token' and is_active`,
      [connectionId],
    );
    const err = await bus
      .request('vault.access-tokens.get', { orgId: h.orgId, connectionId })
      .catch((e: AppError) => e);
    expect((err as AppError).reason).toBe('refresh_token_expired');
  };
  /** A first connect's, a reconnect's and a change of user's authorize URLs; the change of user completed. */
  const threeAuthorizeUrls = async (vendor: string) => {
    const connect = await startAuthorization(vendor);
    expect(await connect.finish('u-alice')).toBe('connected');
    await expireRefreshToken(vendor);
    const reconnect = await startAuthorization(vendor, 'reconnect');
    const changeUser = await startAuthorization(vendor, 'changeUser');
    expect(await changeUser.finish('u-bob')).toBe('user_changed');
    return {
      connect: fixedParams(connect.authorize),
      reconnect: fixedParams(reconnect.authorize),
      changeUser: fixedParams(changeUser.authorize),
    };
  };

  it('Google: a change of user asks for the account chooser and still for consent; connect and reconnect only for consent', async () => {
    const urls = await threeAuthorizeUrls('google');
    expect(urls.connect).toMatchObject({ prompt: 'consent', access_type: 'offline' });
    expect(urls.reconnect).toEqual(urls.connect);
    // Only `prompt` differs: the rest of the catalogue's parameters (access_type=offline) stay.
    expect(urls.changeUser).toEqual({ ...urls.reconnect, prompt: 'select_account consent' });
    // What the provider was asked, as it recorded it (the reconnect was not followed there).
    const prompts = (await h.fakeClient.getState()).authorizations
      .filter((a) => a.clientId === 'otesse-dev-google')
      .map((a) => a.extraParams['prompt']);
    expect(prompts).toEqual(['consent', 'select_account consent']);
  });

  it('Confluence (no account chooser documented): a change of user’s URL is a reconnect’s', async () => {
    const urls = await threeAuthorizeUrls('confluence');
    expect(urls.reconnect).toMatchObject({ prompt: 'consent', audience: 'api.atlassian.com' });
    expect(urls.changeUser).toEqual(urls.reconnect);
  });

  it('the dashboard is told which providers ask which account to use on a change of user', async () => {
    const providers = await h.admin.client.catalogue.list.query();
    const asking = providers.filter((p) => p.changeUserAsksAccount).map((p) => p.key);
    expect(asking.sort()).toEqual(['google', 'salesforce']);
  });
});
