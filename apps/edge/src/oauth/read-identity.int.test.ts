import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalogue, type TProviderDef } from '@otesse/providers';
import { readIdentity } from './read-identity';

/** The identity read against real HTTP servers on loopback: the provider's userinfo, and an "internal" host. */
describe('readIdentity (userinfo)', () => {
  let provider: Server;
  let internal: Server;
  let internalHits = 0;
  const url = (s: Server, path: string) =>
    `http://127.0.0.1:${(s.address() as AddressInfo).port}${path}`;
  const listen = (s: Server) => new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));

  beforeAll(async () => {
    internal = createServer((_req, res) => {
      internalHits += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"sub":"metadata"}');
    });
    await listen(internal);
    provider = createServer((req, res) => {
      if (req.url === '/userinfo') {
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end('{"sub":"u-1","hd":"acme.test","email":"ann@acme.test"}');
      } else if (req.url === '/redirect') {
        res.writeHead(302, { location: url(internal, '/latest/meta-data/') }).end();
      } else if (req.url === '/huge') {
        res.writeHead(200, { 'content-length': String(4 * 1024 ** 3) });
        res.write(Buffer.alloc(64 * 1024, ' '));
      } else {
        res.writeHead(500).end();
      }
    });
    await listen(provider);
  });
  afterAll(async () => {
    provider.closeAllConnections();
    await new Promise((r) => provider.close(r));
    await new Promise((r) => internal.close(r));
  });

  const google = loadCatalogue({ env: {} }).get('google');
  const at = (path: string): TProviderDef => {
    const oauth = google.oauth!;
    if (oauth.identity.kind !== 'userinfo') throw new Error('google reads a userinfo endpoint');
    return {
      ...google,
      oauth: { ...oauth, identity: { ...oauth.identity, url: url(provider, path) } },
    };
  };
  const read = (path: string) => readIdentity(at(path), { accessToken: 't', raw: {} }, {});

  it('reads who authorized from the userinfo answer', async () => {
    await expect(read('/userinfo')).resolves.toMatchObject({
      externalAccountId: 'u-1',
      tenantId: 'acme.test',
      accountLabel: 'ann@acme.test',
    });
  });

  it('refuses a redirect as a failed identity read; its target is never called', async () => {
    await expect(read('/redirect')).rejects.toMatchObject({
      code: 'PROVIDER_ERROR',
      reason: 'identity_failed',
      message: expect.stringMatching(/answered 302, a redirect/),
    });
    expect(internalHits).toBe(0);
  });

  it('refuses an answer over the size cap as a failed identity read, without waiting for it', async () => {
    await expect(read('/huge')).rejects.toMatchObject({
      code: 'PROVIDER_ERROR',
      reason: 'identity_failed',
    });
  });

  it('keeps the other answers as they were: an error status fails, a closed port is unreachable', async () => {
    await expect(read('/broken')).rejects.toMatchObject({ reason: 'identity_failed' });
    const closed = createServer();
    await listen(closed);
    const gone = url(closed, '/userinfo');
    await new Promise((r) => closed.close(r));
    const def = at('/userinfo');
    if (def.oauth?.identity.kind === 'userinfo') def.oauth.identity.url = gone;
    await expect(readIdentity(def, { accessToken: 't', raw: {} }, {})).rejects.toMatchObject({
      reason: 'identity_unreachable',
    });
  });
});
