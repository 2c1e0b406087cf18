import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { FakeProviderClient } from './fake-provider.client.js';
import { startFakeProvider, type TFakeProvider } from './fake-provider.server.js';
import { CLIENT_ID, getJson, obtainTokens, postForm, refresh } from './oauth-flow.test-helpers.js';

let provider: TFakeProvider;
let control: FakeProviderClient;

beforeAll(async () => {
  provider = await startFakeProvider({ port: 0 });
  control = new FakeProviderClient(provider.url);
});
afterAll(() => provider.close());
beforeEach(() => control.reset());

/** A refresh as it comes over the wire: the answer's body unread. */
const refreshRaw = (refreshToken: string) =>
  fetch(`${provider.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: CLIENT_ID,
    }),
  });

describe('token endpoint fault injection', () => {
  it('503 mode answers temporarily_unavailable and records the call', async () => {
    const tokens = await obtainTokens(provider.url);
    await control.configure({ tokenMode: '503' });
    const res = await refresh(provider.url, tokens.refresh_token);
    expect(res).toMatchObject({ status: 503, body: { error: 'temporarily_unavailable' } });
    await control.configure({ tokenMode: 'ok' });
    // The token survived the outage.
    expect((await refresh(provider.url, tokens.refresh_token)).status).toBe(200);
    const calls = (await control.getState()).tokenCalls.slice(1);
    expect(calls.map((c) => c.status)).toEqual([503, 200]);
  });

  it('invalid_client mode answers 401', async () => {
    await control.configure({ tokenMode: 'invalid_client' });
    const res = await refresh(provider.url, 'fpr_x');
    expect(res).toEqual({
      status: 401,
      body: { error: 'invalid_client', error_description: 'client authentication failed' },
    });
  });

  it('hang mode never answers; a client-side timeout fires', async () => {
    await control.configure({ tokenMode: 'hang' });
    const started = Date.now();
    await expect(
      postForm(
        `${provider.url}/oauth/token`,
        { grant_type: 'refresh_token', refresh_token: 'fpr_x', client_id: CLIENT_ID },
        { timeoutMs: 150 },
      ),
    ).rejects.toThrow(/timeout|aborted/i);
    expect(Date.now() - started).toBeLessThan(2000);
    expect((await control.getState()).tokenCalls).toEqual([
      expect.objectContaining({ grantType: 'refresh_token', refreshToken: 'fpr_x', status: null }),
    ]);
  });

  it('tokenDelayMs slows the answer down', async () => {
    const tokens = await obtainTokens(provider.url);
    await control.configure({ tokenDelayMs: 150 });
    const started = Date.now();
    expect((await refresh(provider.url, tokens.refresh_token)).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('oversized mode issues real tokens in a 2 MB body', async () => {
    const tokens = await obtainTokens(provider.url);
    await control.configure({ tokenMode: 'oversized' });
    const res = await refreshRaw(tokens.refresh_token);
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text.length).toBeGreaterThan(2 * 1024 * 1024);
    const body = JSON.parse(text) as { access_token: string };
    expect((await getJson(`${provider.url}/api/contacts`, body.access_token)).status).toBe(200);
  });

  it('gzip mode issues real tokens gzip-compressed, even to a client that asks for identity', async () => {
    const tokens = await obtainTokens(provider.url);
    await control.configure({ tokenMode: 'gzip' });
    // node:http, not fetch: the bytes as sent, undecoded.
    const form = new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
      client_id: CLIENT_ID,
    }).toString();
    const res = await new Promise<{ status: number; headers: object; body: Buffer }>(
      (resolve, reject) => {
        const req = request(`${provider.url}/oauth/token`, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'accept-encoding': 'identity',
          },
        });
        req.once('error', reject);
        req.once('response', (incoming) => {
          const chunks: Buffer[] = [];
          incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
          incoming.once('error', reject);
          incoming.once('end', () =>
            resolve({
              status: incoming.statusCode ?? 0,
              headers: incoming.headers,
              body: Buffer.concat(chunks),
            }),
          );
        });
        req.end(form);
      },
    );
    expect(res.status).toBe(200);
    expect(res.headers).toMatchObject({
      'content-encoding': 'gzip',
      'content-length': String(res.body.byteLength),
    });
    // Small enough for any byte cap: only a client that decoded it would get the tokens.
    expect(res.body.byteLength).toBeLessThan(1024);
    const body = JSON.parse(gunzipSync(res.body).toString('utf8')) as { access_token: string };
    expect((await getJson(`${provider.url}/api/contacts`, body.access_token)).status).toBe(200);
  });

  it('drip mode sends the head at once and the tokens a byte every half second', async () => {
    const tokens = await obtainTokens(provider.url);
    await control.configure({ tokenMode: 'drip' });
    const started = Date.now();
    const res = await refreshRaw(tokens.refresh_token);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let received = '';
    while (received.length < 3) received += new TextDecoder().decode((await reader.read()).value);
    expect(received).toBe('{"a');
    // Three bytes take two pauses.
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    await reader.cancel();
  });
});

describe('close()', () => {
  it('terminates promptly with hanging token/revoke calls, delays and keep-alive sockets', async () => {
    const local = await startFakeProvider({ port: 0 });
    const localControl = new FakeProviderClient(local.url);
    const tokens = await obtainTokens(local.url);
    await localControl.configure({ tokenMode: 'hang', revokeMode: 'hang', pageDelayMs: 60_000 });

    const pending = [
      refresh(local.url, tokens.refresh_token),
      postForm(`${local.url}/oauth/revoke`, { token: tokens.access_token }),
      getJson(`${local.url}/api/contacts`, tokens.access_token),
    ].map((p) =>
      p.then(
        () => 'answered',
        () => 'failed',
      ),
    );
    // Wait until all three requests are parked on the server.
    while (
      local.state.tokenCalls.length < 2 ||
      local.state.revocations.length < 1 ||
      local.state.dataCalls.length < 1
    ) {
      await new Promise((r) => setTimeout(r, 10));
    }

    const started = Date.now();
    await local.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await Promise.all(pending)).toEqual(['failed', 'failed', 'failed']);
    await local.close(); // idempotent
    await expect(fetch(`${local.url}/`)).rejects.toThrow();
  });
});
