import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { FakeProviderClient, FakeProviderControlError } from './fake-provider.client.js';
import { defaultConfig, defaultUsers } from './fake-provider.defaults.js';
import { startFakeProvider, type TFakeProvider } from './fake-provider.server.js';
import { obtainTokens } from './oauth-flow.test-helpers.js';

let provider: TFakeProvider;
let control: FakeProviderClient;

beforeAll(async () => {
  provider = await startFakeProvider({ port: 0 });
  control = new FakeProviderClient(`${provider.url}/`);
});
afterAll(() => provider.close());
beforeEach(() => control.reset());

async function postRaw(path: string, body: string) {
  const res = await fetch(`${provider.url}/_control${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('control API', () => {
  it('starts from the documented defaults', async () => {
    const state = await control.getState();
    expect(state.config).toEqual(defaultConfig());
    expect(state.users).toEqual(defaultUsers());
    expect(state.consentAsUserId).toBe('u-alice');
    expect(provider.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(provider.port).toBeGreaterThan(0);
  });

  it('applies partial config updates and resets them', async () => {
    const next = await control.configure({ rotate: false, dataCounts: { tickets: 7 } });
    expect(next).toMatchObject({
      rotate: false,
      dataCounts: { contacts: 50, invoices: 50, tickets: 7 },
    });
    expect(provider.state.config.rotate).toBe(false); // in-process view of the same state
    await control.reset();
    expect(await control.getConfig()).toEqual(defaultConfig());
  });

  it('rejects bad bodies with 400 and the zod issues', async () => {
    const bad = await postRaw(
      '/config',
      JSON.stringify({ tokenMode: 'explode', tokenDelayMs: -1, typo: 1 }),
    );
    expect(bad.status).toBe(400);
    expect(bad.body['error']).toBe('invalid_request');
    const paths = (bad.body['issues'] as Array<{ path: unknown[]; code: string }>).map(
      (i) => i.path.join('.') || i.code,
    );
    expect(paths).toEqual(
      expect.arrayContaining(['tokenMode', 'tokenDelayMs', 'unrecognized_keys']),
    );
    expect((await postRaw('/config', '{not json')).status).toBe(400);
    expect((await postRaw('/users', JSON.stringify({ users: [{ id: 'x' }] }))).status).toBe(400);
    expect((await postRaw('/consent-as', JSON.stringify({}))).status).toBe(400);
    expect((await postRaw('/expire-refresh-tokens', JSON.stringify({ userId: 5 }))).status).toBe(
      400,
    );
    // Nothing changed.
    expect(await control.getConfig()).toEqual(defaultConfig());
    await expect(control.configure({ accessTokenTtlSec: 1.5 })).rejects.toBeInstanceOf(
      FakeProviderControlError,
    );
  });

  it('adds and replaces users', async () => {
    const dave = { id: 'u-dave', email: 'dave@initech.test', name: 'Dave', tenantId: 'initech' };
    const added = await control.setUsers([dave]);
    expect(added.users.map((u) => u.id)).toEqual(['u-alice', 'u-bob', 'u-carol', 'u-dave']);
    await control.consentAs('u-dave');
    expect(await obtainTokens(provider.url)).toMatchObject({
      user_id: 'u-dave',
      tenant_id: 'initech',
    });

    const replaced = await control.setUsers(
      [{ ...dave, id: 'u-erin', email: 'erin@initech.test' }],
      { replace: true },
    );
    expect(replaced).toEqual({
      users: [expect.objectContaining({ id: 'u-erin' })],
      consentAsUserId: 'u-erin',
    });
    expect(await control.getUsers()).toHaveLength(1);
  });

  it('lists tokens by user and type, and reports token status', async () => {
    const alice = await obtainTokens(provider.url);
    await obtainTokens(provider.url, { login_hint: 'u-bob' });
    const aliceTokens = await control.listTokens({ userId: 'u-alice' });
    expect(aliceTokens.map((t) => t.type).sort()).toEqual(['access', 'refresh']);
    expect(await control.listTokens({ type: 'refresh' })).toHaveLength(2);
    const access = aliceTokens.find((t) => t.type === 'access');
    expect(access).toMatchObject({
      status: 'active',
      clientId: 'client-1',
      refreshToken: alice.refresh_token,
    });

    expect(await control.tokenStatus(alice.access_token)).toMatchObject({
      exists: true,
      type: 'access',
      status: 'active',
    });
    await control.expireAccessTokens({ token: alice.access_token });
    expect(await control.tokenStatus(alice.access_token)).toMatchObject({ status: 'expired' });
    expect(await control.tokenStatus('nope')).toEqual({ exists: false });
    expect(await control.expireRefreshTokens()).toBe(2);
  });

  it('reset clears logs and tokens', async () => {
    await obtainTokens(provider.url);
    await control.reset();
    const state = await control.getState();
    expect(state.tokens).toEqual([]);
    expect(state.tokenCalls).toEqual([]);
    expect(state.authorizations).toEqual([]);
  });

  it('404s unknown control routes and 405s wrong methods', async () => {
    expect((await fetch(`${provider.url}/_control/nope`)).status).toBe(404);
    expect((await fetch(`${provider.url}/_control/reset`)).status).toBe(405);
    expect((await fetch(`${provider.url}/oauth/token`)).status).toBe(405);
  });
});
