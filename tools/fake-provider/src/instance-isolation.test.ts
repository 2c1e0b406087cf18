import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { FakeProviderClient } from './fake-provider.client.js';
import { startFakeProvider, type TFakeProvider } from './fake-provider.server.js';
import { getJson, obtainTokens, postForm, refresh } from './oauth-flow.test-helpers.js';

let provider: TFakeProvider;
let control: FakeProviderClient;
let acme: string;
let globex: string;

beforeAll(async () => {
  provider = await startFakeProvider({ port: 0 });
  control = new FakeProviderClient(provider.url);
  acme = control.endpoints('acme').base;
  globex = control.endpoints('globex').base;
});
afterAll(() => provider.close());
beforeEach(() => control.reset());

describe('instance prefix /i/:instance', () => {
  it('issues tokens that report the instance', async () => {
    const tokens = await obtainTokens(acme, { scope: 'read:jira-work offline_access' });
    expect(tokens).toMatchObject({ instance: 'acme', tenant_id: 'acme', user_id: 'u-alice' });

    expect(await getJson(`${acme}/oauth/userinfo`, tokens.access_token)).toEqual({
      status: 200,
      body: {
        sub: 'u-alice',
        email: 'alice@acme.test',
        name: 'Alice Anders',
        tenant_id: 'acme',
        instance: 'acme',
      },
    });
    expect(await getJson(`${acme}/oauth/accessible-resources`, tokens.access_token)).toEqual({
      status: 200,
      body: [{ id: 'acme', name: 'Acme', url: acme, scopes: ['read:jira-work', 'offline_access'] }],
    });
    const state = await control.getState();
    expect(state.authorizations[0]?.instance).toBe('acme');
    expect(state.tokenCalls[0]?.instance).toBe('acme');
    expect((await control.listTokens({ instance: 'acme' })).length).toBe(2);
  });

  it('root userinfo has no instance field', async () => {
    const tokens = await obtainTokens(provider.url, { login_hint: 'u-carol' });
    const res = await getJson(`${provider.url}/oauth/userinfo`, tokens.access_token);
    expect(res.body).toEqual({
      sub: 'u-carol',
      email: 'carol@globex.test',
      name: 'Carol Chen',
      tenant_id: 'globex',
    });
  });

  it('tokens and codes only work under the instance that issued them', async () => {
    const tokens = await obtainTokens(acme);
    for (const base of [provider.url, globex]) {
      expect(await getJson(`${base}/oauth/userinfo`, tokens.access_token)).toMatchObject({
        status: 401,
        body: { error: 'invalid_token' },
      });
      expect((await getJson(`${base}/api/health`, tokens.access_token)).status).toBe(401);
      expect((await refresh(base, tokens.refresh_token)).body).toMatchObject({
        error: 'invalid_grant',
      });
    }
    // Revoking via another instance is a no-op on this one.
    await postForm(`${globex}/oauth/revoke`, { token: tokens.refresh_token });
    expect((await control.tokenStatus(tokens.refresh_token)).status).toBe('active');
    expect((await refresh(acme, tokens.refresh_token)).status).toBe(200);

    const rootTokens = await obtainTokens(provider.url);
    expect((await getJson(`${acme}/oauth/userinfo`, rootTokens.access_token)).status).toBe(401);
  });

  it('rejects bad tokens with invalid_token', async () => {
    expect((await getJson(`${acme}/oauth/userinfo`)).status).toBe(401);
    const res = await fetch(`${acme}/oauth/userinfo`, {
      headers: { authorization: 'Bearer fpa_nope' },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/invalid_token/);
  });

  it('serves discovery metadata per instance and 404s for control under an instance', async () => {
    const meta = await getJson(`${acme}/.well-known/oauth-authorization-server`);
    expect(meta.body).toMatchObject({ token_endpoint: `${acme}/oauth/token` });
    expect((await getJson(`${acme}/_control/state`)).status).toBe(404);
    expect((await getJson(`${provider.url}/i/bad%20name/oauth/userinfo`)).status).toBe(404);
  });
});
