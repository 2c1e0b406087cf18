import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '@otesse/contracts';
import { Bus } from '@otesse/messaging';
import { TestBrowser, waitFor } from '@otesse/testing';
import { DASHBOARD_URL, startHarness, type THarness } from './e2e-harness';

/**
 * Issue 4 "Tokens" end to end (every service a process, the fake provider over HTTP): a connection made through
 * the OAuth flow is refreshed by the vault when due; when the provider declares its refresh token dead, the
 * connection shows `refreshTokenExpired` in the integrations list (seed 003's Reconnect trigger) and the audit
 * log records it.
 */
describe('token refresh and refreshTokenExpired through the whole stack', () => {
  let h: THarness;
  let bus: Bus;

  beforeAll(async () => {
    h = await startHarness();
    bus = new Bus(h.nc, { timeoutMs: 10_000 });
  });
  afterAll(async () => {
    await h?.close();
  });

  const google = async () => {
    const list = await h.member.client.integrations.list.query({ category: 'productivity' });
    return list.find((i) => i.provider.key === 'google')!;
  };

  it('refreshes a due token, then flags the connection when the provider refuses the refresh token', async () => {
    const browser = new TestBrowser();
    const { url } = await h.member.client.integrations.oauthUrl.query({
      vendor: 'google',
      flow: 'user',
    });
    const { stoppedAt } = await browser.follow(url, { stopAt: DASHBOARD_URL });
    expect(stoppedAt).toContain('oauth=connected');
    const before = await google();
    const connectionId = before.myConnection!.id;
    expect(before.refreshTokenExpired).toBe(false);
    const req = { orgId: h.orgId, connectionId };
    const dueInVault = () =>
      h.db.query(
        `update vault.credential set expires_at = now() - interval '1 minute'
          where connection_id = $1 and kind = 'access_token'`,
        [connectionId],
      );

    // Due: the vault refreshes at the provider's token endpoint and answers the new token.
    const first = await bus.request('vault.access-tokens.get', req);
    await dueInVault();
    const refreshed = await bus.request('vault.access-tokens.get', req);
    expect(refreshed.accessToken).not.toBe(first.accessToken);
    expect((await h.fakeClient.tokenStatus(refreshed.accessToken)).status).toBe('active');
    const calls = (await h.fakeClient.getState()).tokenCalls.filter(
      (c) => c.grantType === 'refresh_token',
    );
    expect(calls).toMatchObject([{ status: 200, clientId: 'otesse-dev-google' }]);

    // The provider expires the refresh token (and the access token): the next refresh gets invalid_grant.
    await h.fakeClient.expireRefreshTokens({ clientId: 'otesse-dev-google' });
    await h.fakeClient.expireAccessTokens({ clientId: 'otesse-dev-google' });
    await dueInVault();
    const err = await bus.request('vault.access-tokens.get', req).then(
      () => undefined,
      (e: unknown) => e as AppError,
    );
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'PRECONDITION_FAILED', reason: 'refresh_token_expired' });

    const after = await google();
    expect(after.refreshTokenExpired).toBe(true);
    expect(after.myConnection).toMatchObject({ id: connectionId, refreshTokenExpired: true });

    const jsm = await h.nc.jetstreamManager();
    const msg = await jsm.streams.getMessage('INTEGRATIONS', {
      last_by_subj: 'integrations.connection.refresh_token_expired',
    });
    expect(msg.json<{ connectionId: string; vendor: string }>()).toMatchObject({
      connectionId,
      vendor: 'google',
      userId: h.member.id,
    });

    const entry = await waitFor(async () => {
      const { entries } = await h.admin.client.audit.list.query({
        filters: { action: 'connection.refresh_token_expired', provider: 'google' },
      });
      return entries[0];
    });
    expect(entry).toMatchObject({
      actorUserId: null,
      onBehalfOfUserId: h.member.id,
      outcome: 'failure',
      targets: { connectionId, instanceId: after.instance!.id },
    });
  });
});
