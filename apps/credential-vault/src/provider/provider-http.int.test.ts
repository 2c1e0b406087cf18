import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callProvider } from './provider-http';

/** The one HTTP client the vault calls providers with (real HTTP servers on loopback). */
describe('callProvider', () => {
  const hits = { target: 0 };
  /** Each endless answer's hang-up, as the provider saw it. */
  const hangUps: Promise<void>[] = [];
  let target: Server;
  let provider: Server;
  const url = (s: Server, path: string) =>
    `http://127.0.0.1:${(s.address() as AddressInfo).port}${path}`;
  const listen = (s: Server) => new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));

  beforeAll(async () => {
    target = createServer((_req, res) => {
      hits.target += 1;
      res.end('{}');
    });
    await listen(target);
    provider = createServer((req, res) => {
      if (req.url === '/huge' || req.url === '/huge-declared') {
        // A token answer that never ends (chunked, or announced as 4 GiB): written until the vault hangs up.
        res.writeHead(
          200,
          req.url === '/huge'
            ? { 'content-type': 'application/json' }
            : { 'content-length': String(4 * 1024 ** 3) },
        );
        hangUps.push(new Promise((r) => res.on('close', r)));
        const chunk = Buffer.alloc(64 * 1024, ' ');
        const pump = () => {
          while (!res.destroyed) if (!res.write(chunk)) return void res.once('drain', pump);
        };
        pump();
        return;
      }
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.url === '/redirect') {
          res.writeHead(302, { location: url(target, '/elsewhere') }).end();
        } else if (req.url === '/hang') {
          // never answers
        } else if (req.url === '/busy') {
          res.writeHead(503, { 'retry-after': '7', 'content-type': 'application/json' });
          res.end('{"error":"busy"}');
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ method: req.method, type: req.headers['content-type'], body }));
        }
      });
    });
    await listen(provider);
  });
  afterAll(async () => {
    provider.closeAllConnections();
    await new Promise((r) => provider.close(r));
    await new Promise((r) => target.close(r));
  });

  it('sends a form, parses the JSON answer and reads Retry-After', async () => {
    await expect(
      callProvider({
        method: 'POST',
        url: url(provider, '/ok'),
        form: { token: 'a b' },
        timeoutMs: 2_000,
      }),
    ).resolves.toEqual({
      kind: 'response',
      status: 200,
      body: { method: 'POST', type: 'application/x-www-form-urlencoded', body: 'token=a+b' },
      retryAfterMs: undefined,
    });
    await expect(
      callProvider({ method: 'GET', url: url(provider, '/busy'), timeoutMs: 2_000 }),
    ).resolves.toEqual({
      kind: 'response',
      status: 503,
      body: { error: 'busy' },
      retryAfterMs: 7_000,
    });
  });

  it('never follows a redirect: a credential is not sent to another host', async () => {
    await expect(
      callProvider({
        method: 'POST',
        url: url(provider, '/redirect'),
        form: { token: 't' },
        timeoutMs: 2_000,
      }),
    ).resolves.toMatchObject({ kind: 'response', status: 302 });
    expect(hits.target).toBe(0);
  });

  it('refuses an answer over the size cap (announced or streamed) as unreachable, and hangs up', async () => {
    for (const path of ['/huge', '/huge-declared']) {
      await expect(
        callProvider({ method: 'POST', url: url(provider, path), timeoutMs: 10_000 }),
      ).resolves.toEqual({ kind: 'unreachable', code: 'body_too_large' });
    }
    await Promise.all(hangUps);
  });

  it('a hang is a timeout within its bound; a closed port is unreachable', async () => {
    await expect(
      callProvider({ method: 'POST', url: url(provider, '/hang'), timeoutMs: 200 }),
    ).resolves.toEqual({ kind: 'timeout' });
    const closed = createServer();
    await listen(closed);
    const gone = url(closed, '/x');
    await new Promise((r) => closed.close(r));
    await expect(callProvider({ method: 'GET', url: gone, timeoutMs: 2_000 })).resolves.toEqual({
      kind: 'unreachable',
      code: 'ECONNREFUSED',
    });
  });
});
