import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { FakeProviderClient } from './fake-provider.client.js';
import { startFakeProvider, type TFakeProvider } from './fake-provider.server.js';
import {
  basicAuth,
  CLIENT_ID,
  CLIENT_SECRET,
  getJson,
  obtainTokens,
  postForm,
  refresh,
} from './oauth-flow.test-helpers.js';

let provider: TFakeProvider;
let control: FakeProviderClient;
let revokeUrl: string;

beforeAll(async () => {
  provider = await startFakeProvider({ port: 0 });
  control = new FakeProviderClient(provider.url);
  revokeUrl = `${provider.url}/oauth/revoke`;
});
afterAll(() => provider.close());
beforeEach(() => control.reset());

const revoke = (token: string, hint?: string, timeoutMs?: number) =>
  postForm(
    revokeUrl,
    { token, ...(hint ? { token_type_hint: hint } : {}) },
    {
      headers: { authorization: basicAuth(CLIENT_ID, CLIENT_SECRET) },
      ...(timeoutMs ? { timeoutMs } : {}),
    },
  );

describe('revoke', () => {
  it('revoking a refresh token also revokes its access token, and records the hint', async () => {
    const tokens = await obtainTokens(provider.url);
    expect((await revoke(tokens.refresh_token, 'refresh_token')).status).toBe(200);

    expect(await control.tokenStatus(tokens.refresh_token)).toMatchObject({
      exists: true,
      type: 'refresh',
      status: 'revoked',
      revokeReason: 'revoke_endpoint',
      tokenTypeHint: 'refresh_token',
    });
    expect(await control.tokenStatus(tokens.access_token)).toMatchObject({
      status: 'revoked',
      revokeReason: 'parent_revoked',
    });
    expect((await refresh(provider.url, tokens.refresh_token)).body).toMatchObject({
      error: 'invalid_grant',
    });
    expect((await getJson(`${provider.url}/api/health`, tokens.access_token)).status).toBe(401);
    expect((await control.getState()).revocations).toEqual([
      expect.objectContaining({
        token: tokens.refresh_token,
        tokenTypeHint: 'refresh_token',
        clientId: CLIENT_ID,
        outcome: 'revoked',
        status: 200,
      }),
    ]);
  });

  it('revoking an access token revokes only it', async () => {
    const tokens = await obtainTokens(provider.url);
    await revoke(tokens.access_token, 'access_token');
    expect((await control.tokenStatus(tokens.access_token)).status).toBe('revoked');
    expect((await control.tokenStatus(tokens.refresh_token)).status).toBe('active');
    expect((await refresh(provider.url, tokens.refresh_token)).status).toBe(200);
  });

  it('answers 200 for unknown and already revoked tokens, without a hint too', async () => {
    const tokens = await obtainTokens(provider.url);
    expect((await revoke('fpa_unknown')).status).toBe(200);
    await revoke(tokens.access_token);
    expect((await revoke(tokens.access_token)).status).toBe(200);
    const outcomes = (await control.getState()).revocations.map((r) => [
      r.outcome,
      r.tokenTypeHint,
    ]);
    expect(outcomes).toEqual([
      ['unknown_token', null],
      ['revoked', null],
      ['already_revoked', null],
    ]);
    expect((await control.tokenStatus('fpa_unknown')).exists).toBe(false);
  });

  it('accepts a client-less, query-string revoke (Google style)', async () => {
    const tokens = await obtainTokens(provider.url);
    const res = await fetch(`${revokeUrl}?token=${encodeURIComponent(tokens.access_token)}`, {
      method: 'POST',
    });
    expect(res.status).toBe(200);
    expect((await control.tokenStatus(tokens.access_token)).status).toBe('revoked');
  });

  it("revokeScope grant (Google): revoking an old token ends the user's whole grant to the client, a later authorization's tokens too", async () => {
    await control.configure({ revokeScope: 'grant' });
    const old = await obtainTokens(provider.url);
    const renewed = await obtainTokens(provider.url);
    await control.consentAs('u-bob');
    const bob = await obtainTokens(provider.url);
    expect((await revoke(old.access_token, 'access_token')).status).toBe(200);
    for (const t of [old.refresh_token, renewed.access_token, renewed.refresh_token]) {
      expect(await control.tokenStatus(t)).toMatchObject({
        status: 'revoked',
        revokeReason: 'grant_revoked',
      });
    }
    expect((await refresh(provider.url, renewed.refresh_token)).body).toMatchObject({
      error: 'invalid_grant',
    });
    // Another user's grant is another grant.
    expect((await control.tokenStatus(bob.refresh_token)).status).toBe('active');
    expect((await refresh(provider.url, bob.refresh_token)).status).toBe(200);
  });

  it('refuses to revoke another client’s token', async () => {
    const tokens = await obtainTokens(provider.url);
    const res = await postForm(revokeUrl, {
      token: tokens.access_token,
      client_id: 'someone-else',
    });
    expect(res).toMatchObject({ status: 400, body: { error: 'unauthorized_client' } });
    expect((await control.tokenStatus(tokens.access_token)).status).toBe('active');
  });
});

describe('revoke fault modes', () => {
  it('400 and 500 are recorded and leave the token alive', async () => {
    const tokens = await obtainTokens(provider.url);
    await control.configure({ revokeMode: '400' });
    expect((await revoke(tokens.refresh_token, 'refresh_token')).status).toBe(400);
    await control.configure({ revokeMode: '500' });
    expect((await revoke(tokens.refresh_token, 'refresh_token')).status).toBe(500);
    expect((await control.tokenStatus(tokens.refresh_token)).status).toBe('active');
    const recs = (await control.getState()).revocations;
    expect(recs.map((r) => [r.outcome, r.status, r.tokenTypeHint])).toEqual([
      ['fault_400', 400, 'refresh_token'],
      ['fault_500', 500, 'refresh_token'],
    ]);
  });

  it('hang never answers (client times out) but is recorded', async () => {
    const tokens = await obtainTokens(provider.url);
    await control.configure({ revokeMode: 'hang' });
    await expect(revoke(tokens.refresh_token, 'refresh_token', 150)).rejects.toThrow(
      /timeout|aborted/i,
    );
    expect((await control.getState()).revocations).toEqual([
      expect.objectContaining({ token: tokens.refresh_token, outcome: 'hang', status: null }),
    ]);
    expect((await control.tokenStatus(tokens.refresh_token)).status).toBe('active');
  });

  it('down drops the connection but is recorded', async () => {
    const tokens = await obtainTokens(provider.url);
    await control.configure({ revokeMode: 'down' });
    await expect(revoke(tokens.access_token, 'access_token')).rejects.toThrow(/fetch failed/);
    expect((await control.getState()).revocations).toEqual([
      expect.objectContaining({ token: tokens.access_token, outcome: 'down', status: null }),
    ]);
  });

  it('revokeDelayMs delays the answer', async () => {
    await control.configure({ revokeDelayMs: 150 });
    const started = Date.now();
    expect((await revoke('fpa_x')).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });
});
