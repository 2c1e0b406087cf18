import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { FakeProviderClient } from './fake-provider.client.js';
import { startFakeProvider, type TFakeProvider } from './fake-provider.server.js';
import {
  authorize,
  basicAuth,
  CLIENT_ID,
  CLIENT_SECRET,
  getJson,
  obtainTokens,
  pkcePair,
  postForm,
  REDIRECT_URI,
  type TTokenBody,
} from './oauth-flow.test-helpers.js';

let provider: TFakeProvider;
let control: FakeProviderClient;

beforeAll(async () => {
  provider = await startFakeProvider({ port: 0 });
  control = new FakeProviderClient(provider.url);
});
afterAll(() => provider.close());
beforeEach(() => control.reset());

async function codeWithPkce(extra: Record<string, string> = {}) {
  const pkce = pkcePair();
  const auth = await authorize(provider.url, {
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
    ...extra,
  });
  const code = auth.location?.searchParams.get('code') ?? '';
  return { ...pkce, code, auth };
}

const exchange = (code: string, verifier: string, extra: Record<string, string> = {}) =>
  postForm(`${provider.url}/oauth/token`, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: REDIRECT_URI,
    code_verifier: verifier,
    client_id: CLIENT_ID,
    ...extra,
  });

describe('authorization_code + PKCE', () => {
  it('redirects with a code and the verbatim state, then issues tokens', async () => {
    const { code, verifier, auth } = await codeWithPkce({
      state: 'a b+c/=?&',
      audience: 'api.x',
      prompt: 'consent',
    });
    expect(auth.status).toBe(302);
    expect(`${auth.location?.origin}${auth.location?.pathname}`).toBe(REDIRECT_URI);
    expect(auth.location?.searchParams.get('state')).toBe('a b+c/=?&');
    expect(code).toMatch(/^fpc_/);

    const res = await exchange(code, verifier, { client_secret: CLIENT_SECRET });
    expect(res.status).toBe(200);
    const body = res.body as unknown as TTokenBody;
    expect(body).toMatchObject({
      token_type: 'Bearer',
      expires_in: 3600,
      scope: 'read write',
      user_id: 'u-alice',
      tenant_id: 'acme',
    });
    expect(body.access_token).toMatch(/^fpa_[A-Za-z0-9_-]{43}$/);
    expect(body.refresh_token).toMatch(/^fpr_[A-Za-z0-9_-]{43}$/);
    expect(body).not.toHaveProperty('instance');

    const state = await control.getState();
    expect(state.authorizations[0]).toMatchObject({
      clientId: CLIENT_ID,
      outcome: 'code',
      userId: 'u-alice',
      codeChallengeMethod: 'S256',
      extraParams: { audience: 'api.x', prompt: 'consent' },
    });
    expect(state.tokenCalls).toEqual([
      expect.objectContaining({
        grantType: 'authorization_code',
        clientId: CLIENT_ID,
        status: 200,
      }),
    ]);
  });

  it('accepts HTTP Basic client auth and JSON bodies', async () => {
    const { code, verifier } = await codeWithPkce();
    const res = await postForm(
      `${provider.url}/oauth/token`,
      {
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT_URI,
        code_verifier: verifier,
      },
      { json: true, headers: { authorization: basicAuth(CLIENT_ID, 'whatever') } },
    );
    expect(res.status).toBe(200);
  });

  it('rejects a wrong code_verifier', async () => {
    const { code } = await codeWithPkce();
    const res = await exchange(code, pkcePair().verifier);
    expect(res).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('rejects a missing verifier, another redirect_uri and another client', async () => {
    const { code, verifier } = await codeWithPkce();
    expect((await exchange(code, '')).body).toMatchObject({ error: 'invalid_grant' });
    expect(
      (await exchange(code, verifier, { redirect_uri: 'http://evil.test/cb' })).body,
    ).toMatchObject({
      error: 'invalid_grant',
    });
    expect((await exchange(code, verifier, { client_id: 'other' })).body).toMatchObject({
      error: 'invalid_grant',
    });
    // Failed attempts do not burn the code.
    expect((await exchange(code, verifier)).status).toBe(200);
  });

  it('rejects a reused code and revokes the tokens issued from it', async () => {
    const { code, verifier } = await codeWithPkce();
    const first = (await exchange(code, verifier)).body as unknown as TTokenBody;
    expect((await getJson(`${provider.url}/oauth/userinfo`, first.access_token)).status).toBe(200);

    const second = await exchange(code, verifier);
    expect(second).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await control.tokenStatus(first.access_token)).toMatchObject({
      status: 'revoked',
      revokeReason: 'code_reuse',
    });
    expect((await control.tokenStatus(first.refresh_token)).status).toBe('revoked');
    expect((await getJson(`${provider.url}/oauth/userinfo`, first.access_token)).status).toBe(401);
  });

  it('expires codes after their lifetime', async () => {
    await control.configure({ codeTtlSec: 0 });
    const { code, verifier } = await codeWithPkce();
    expect((await exchange(code, verifier)).body).toMatchObject({
      error: 'invalid_grant',
      error_description: 'authorization code expired',
    });
  });

  it('works without PKCE when no challenge was sent', async () => {
    const auth = await authorize(provider.url);
    const code = auth.location?.searchParams.get('code') ?? '';
    const res = await postForm(`${provider.url}/oauth/token`, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      client_id: CLIENT_ID,
    });
    expect(res.status).toBe(200);
  });
});

describe('authorize validation', () => {
  it('answers 400 without redirecting for a missing client_id or bad redirect_uri', async () => {
    expect((await authorize(provider.url, { client_id: '' })).status).toBe(400);
    const bad = await authorize(provider.url, { redirect_uri: 'javascript:alert(1)' });
    expect(bad.status).toBe(400);
    expect(bad.location).toBeNull();
    expect((await authorize(provider.url, { redirect_uri: '/relative' })).status).toBe(400);
  });

  it('redirects with errors for bad response_type and non-S256 PKCE', async () => {
    const rt = await authorize(provider.url, { response_type: 'token' });
    expect(rt.location?.searchParams.get('error')).toBe('unsupported_response_type');
    expect(rt.location?.searchParams.get('state')).toBe('st-123');
    const plain = await authorize(provider.url, {
      code_challenge: 'abc',
      code_challenge_method: 'plain',
    });
    expect(plain.location?.searchParams.get('error')).toBe('invalid_request');
  });

  it('redirects with access_denied when control says deny', async () => {
    await control.configure({ authorizeMode: 'deny' });
    const res = await authorize(provider.url, { state: 'keep-me' });
    expect(res.status).toBe(302);
    expect(res.location?.searchParams.get('error')).toBe('access_denied');
    expect(res.location?.searchParams.get('state')).toBe('keep-me');
    expect(res.location?.searchParams.has('code')).toBe(false);
    expect((await control.getState()).authorizations[0]?.outcome).toBe('denied');
  });
});

describe('who logs in', () => {
  it('consents as u-alice by default, as consentAs after it is set, until reset', async () => {
    expect((await obtainTokens(provider.url)).user_id).toBe('u-alice');
    await control.consentAs('u-carol');
    const carol = await obtainTokens(provider.url);
    expect(carol).toMatchObject({ user_id: 'u-carol', tenant_id: 'globex' });
    expect((await obtainTokens(provider.url)).user_id).toBe('u-carol');
    await control.reset();
    expect((await obtainTokens(provider.url)).user_id).toBe('u-alice');
  });

  it('login_hint (id or email) overrides for one request only', async () => {
    expect((await obtainTokens(provider.url, { login_hint: 'bob@acme.test' })).user_id).toBe(
      'u-bob',
    );
    expect((await obtainTokens(provider.url, { login_hint: 'u-carol' })).user_id).toBe('u-carol');
    expect((await obtainTokens(provider.url)).user_id).toBe('u-alice');
    const unknown = await authorize(provider.url, { login_hint: 'nobody@x.test' });
    expect(unknown.location?.searchParams.get('error')).toBe('access_denied');
  });

  it('rejects consent-as for an unknown user', async () => {
    await expect(control.consentAs('u-nobody')).rejects.toMatchObject({ status: 400 });
  });
});
