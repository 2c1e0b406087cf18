import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PROVIDER_MAX_BODY_BYTES, ProviderHttpError, providerFetch } from './provider-fetch';

/** What one endless answer did on the provider's side: bytes it managed to send, and whether the client hung up. */
interface TStream {
  written: number;
  closed: Promise<void>;
}

/** providerFetch against real HTTP servers on loopback: a "provider" and the target its redirects point at. */
describe('providerFetch', () => {
  let provider: Server;
  let target: Server;
  const hits = { target: 0 };
  const streams: TStream[] = [];
  const url = (s: Server, path: string) =>
    `http://127.0.0.1:${(s.address() as AddressInfo).port}${path}`;
  const listen = (s: Server) => new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const chunk = Buffer.alloc(64 * 1024, 'x');

  /** Writes 64 KiB chunks, honouring back-pressure, until the client hangs up (never ends on its own). */
  const endless = (req: IncomingMessage, res: ServerResponse) => {
    const s: TStream = {
      written: 0,
      closed: new Promise((r) => res.on('close', () => r())),
    };
    streams.push(s);
    let open = true;
    res.on('close', () => (open = false));
    const pump = () => {
      while (open) {
        s.written += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
    };
    req.resume();
    pump();
  };

  beforeAll(async () => {
    target = createServer((_req, res) => {
      hits.target += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"from":"target"}');
    });
    await listen(target);
    provider = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const status = /^\/redirect\/(\d{3})$/.exec(path)?.[1];
      if (status) {
        res.writeHead(Number(status), { location: url(target, '/internal') }).end();
      } else if (path === '/json') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"items":[1,2]}');
      } else if (path === '/chunked-json') {
        // No Content-Length: Node sends it chunked.
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"items":');
        setTimeout(() => res.end('[3]}'), 20);
      } else if (path === '/exact') {
        const n = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('n'));
        res.writeHead(200).end(Buffer.alloc(n, 'a'));
      } else if (path === '/huge-declared') {
        // Announces 4 GiB, sends 64 KiB, then waits: only the announcement can refuse it in time.
        res.writeHead(200, { 'content-length': String(4 * 1024 ** 3) });
        res.write(chunk);
        streams.push({ written: chunk.length, closed: new Promise((r) => res.on('close', r)) });
      } else if (path === '/huge-chunked') {
        res.writeHead(200, { 'content-type': 'application/json' });
        endless(req, res);
      } else if (path === '/gzip-bomb') {
        // 64 KiB on the wire, 64 MiB once inflated: the cap counts what the caller would hold.
        const body = gzipSync(Buffer.alloc(64 * 1024 * 1024, ' '));
        res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': body.length });
        res.end(body);
      } else if (path === '/slow-body') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{');
        // never finishes
      } else if (path === '/hang') {
        // never answers
      } else {
        res.writeHead(404).end();
      }
    });
    await listen(provider);
  });
  afterAll(async () => {
    provider.closeAllConnections();
    await new Promise((r) => provider.close(r));
    await new Promise((r) => target.close(r));
  });
  beforeEach(() => {
    hits.target = 0;
    streams.length = 0;
  });

  const signal = () => AbortSignal.timeout(10_000);
  const refusal = async (p: Promise<unknown>): Promise<ProviderHttpError> => {
    const e = await p.then(
      () => new Error('expected a refusal'),
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(ProviderHttpError);
    return e as ProviderHttpError;
  };

  it('passes a normal answer: status, headers, JSON (with or without a Content-Length)', async () => {
    const res = await providerFetch(url(provider, '/json'), {
      headers: { authorization: 'Bearer t' },
      signal: signal(),
    });
    expect(res.status).toBe(200);
    expect(res.ok).toBe(true);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({ items: [1, 2] });

    const chunked = await providerFetch(url(provider, '/chunked-json'), { signal: signal() });
    expect(chunked.headers.get('content-length')).toBeNull();
    expect(await chunked.json()).toEqual({ items: [3] });

    const missing = await providerFetch(url(provider, '/nothing'), { signal: signal() });
    expect(missing.status).toBe(404);
    expect(missing.ok).toBe(false);
    await missing.discard();
  });

  it.each([301, 302, 303, 307, 308])(
    'refuses a %i redirect: its target never receives a request',
    async (status) => {
      const e = await refusal(
        providerFetch(url(provider, `/redirect/${status}`), {
          headers: { authorization: 'Bearer t' },
          signal: signal(),
        }),
      );
      expect(e).toMatchObject({ reason: 'redirect', status });
      // The target's address stays out of the message (it may be an internal one).
      expect(e.message).not.toContain('127.0.0.1');
      // A 307/308 would repeat a POST with its body: refused as well.
      await refusal(
        providerFetch(url(provider, `/redirect/${status}`), {
          method: 'POST',
          body: 'token=t',
          signal: signal(),
        }),
      );
      await new Promise((r) => setTimeout(r, 50));
      expect(hits.target).toBe(0);
    },
  );

  it('refuses a body whose Content-Length is over the cap before reading it, and hangs up', async () => {
    const res = await providerFetch(url(provider, '/huge-declared'), { signal: signal() });
    const e = await refusal(res.json());
    expect(e).toMatchObject({ reason: 'body_too_large', status: 200 });
    // The provider sees the connection closed.
    await streams[0]!.closed;
  });

  it('refuses an endless chunked body once it passes the cap, without buffering the rest', async () => {
    const res = await providerFetch(url(provider, '/huge-chunked'), { signal: signal() });
    expect(res.headers.get('content-length')).toBeNull();
    const e = await refusal(res.text());
    expect(e).toMatchObject({ reason: 'body_too_large', status: 200 });
    expect(e.message).toContain(String(PROVIDER_MAX_BODY_BYTES));
    await streams[0]!.closed;
    expect(streams[0]!.written).toBeLessThan(PROVIDER_MAX_BODY_BYTES + 64 * 1024 * 1024);

    // A caller's smaller cap applies the same way.
    const small = await providerFetch(url(provider, '/huge-chunked'), {
      signal: signal(),
      maxBodyBytes: 100_000,
    });
    await expect(refusal(small.text())).resolves.toMatchObject({ reason: 'body_too_large' });
    await streams[1]!.closed;
  });

  it('counts the inflated bytes of a compressed body', async () => {
    const res = await providerFetch(url(provider, '/gzip-bomb'), { signal: signal() });
    await expect(refusal(res.text())).resolves.toMatchObject({ reason: 'body_too_large' });
  });

  it('accepts a body of exactly the cap, refuses one byte more', async () => {
    const at = await providerFetch(url(provider, '/exact?n=1000'), {
      signal: signal(),
      maxBodyBytes: 1000,
    });
    expect(await at.text()).toHaveLength(1000);
    const over = await providerFetch(url(provider, '/exact?n=1001'), {
      signal: signal(),
      maxBodyBytes: 1000,
    });
    await expect(refusal(over.text())).resolves.toMatchObject({ reason: 'body_too_large' });
  });

  it("keeps the caller's bound over the answer and its body; a network fault rejects as fetch does", async () => {
    await expect(
      providerFetch(url(provider, '/hang'), { signal: AbortSignal.timeout(200) }),
    ).rejects.toMatchObject({ name: 'TimeoutError' });
    const slow = await providerFetch(url(provider, '/slow-body'), {
      signal: AbortSignal.timeout(300),
    });
    await expect(slow.json()).rejects.toMatchObject({ name: 'TimeoutError' });

    const closed = createServer();
    await listen(closed);
    const gone = url(closed, '/x');
    await new Promise((r) => closed.close(r));
    const e = await providerFetch(gone, { signal: signal() }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(TypeError);
    expect(e).not.toBeInstanceOf(ProviderHttpError);
  });
});
