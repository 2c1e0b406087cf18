import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBrowser } from '@otesse/testing';
import { connectOAuth, DASHBOARD_URL, startHarness, type THarness } from '../test/e2e-harness';

/**
 * Seed 003's Change User as the dashboard is told it: a change of user that signed in the account already connected
 * (a browser still signed in at the provider as that user) says so, so the dashboard does not announce a switch.
 */
describe('the redirect after a change of user (whole stack as processes, fake provider)', () => {
  let h: THarness;
  beforeAll(async () => {
    h = await startHarness();
    await h.admin.client.integrations.configureInstance.mutate({
      vendor: 'servicenow',
      subdomain: 'acme',
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  /** Change user as an admin's browser does it, signing in at the provider as `consentAs`: the dashboard's URL. */
  const changeUser = async (consentAs: string): Promise<URLSearchParams> => {
    await h.fakeClient.consentAs(consentAs);
    const { url } = await h.admin.client.integrations.oauthUrl.query({
      vendor: 'servicenow',
      flow: 'app',
      action: 'changeUser',
    });
    const { stoppedAt } = await new TestBrowser().follow(url, { stopAt: DASHBOARD_URL });
    expect(stoppedAt).toBeDefined();
    return new URL(stoppedAt!).searchParams;
  };
  const account = async () =>
    (await h.admin.client.integrations.list.query()).find((i) => i.provider.key === 'servicenow')!
      .appConnection!.externalAccountId;

  it('says when the same account signed in again, and when another one did; never names the account', async () => {
    expect(
      (await connectOAuth(h, h.admin, 'servicenow', 'app', { consentAs: 'u-alice' })).outcome,
    ).toBe('connected');

    const same = await changeUser('u-alice');
    expect(Object.fromEntries(same)).toEqual({
      oauth: 'user_changed',
      vendor: 'servicenow',
      action: 'changeUser',
      flow: 'app',
      sameAccount: '1',
    });
    expect(await account()).toBe('u-alice');

    const other = await changeUser('u-bob');
    expect(Object.fromEntries(other)).toEqual({
      oauth: 'user_changed',
      vendor: 'servicenow',
      action: 'changeUser',
      flow: 'app',
      sameAccount: '0',
    });
    expect(await account()).toBe('u-bob');
  });
});
