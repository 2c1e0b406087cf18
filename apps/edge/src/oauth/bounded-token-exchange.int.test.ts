import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCertificates, type TTestCertificates } from '@otesse/testing';
import { boundedTokenExchange } from './bounded-token-exchange';

/** The HTTP client grant makes its code exchange with (request-compose with grant's defaults), as grant calls it. */
const grantClient = createRequire(import.meta.url)('grant/lib/client') as (
  args: Record<string, unknown>,
) => Promise<{ body: unknown }>;

/**
 * Over TLS, as a real provider answers (the e2e tests reach the fake provider over plain HTTP): the connection the
 * bounds make verifies the server by its host name, and cuts an answer that drips or weighs too much.
 */
describe('bounded token exchange over https (real TLS server on loopback)', () => {
  let certs: TTestCertificates;
  let server: Server;
  let url: string;
  const warnings: unknown[] = [];
  const logger = { warn: (obj: unknown) => warnings.push(obj) };
  const acceptEncodings: (string | undefined)[] = [];
  const routes: Record<string, (res: ServerResponse) => void> = {
    '/token': (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: 'at-1', token_type: 'bearer' }));
    },
    '/drip': (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      const timer = setInterval(() => res.write(' '), 200);
      res.once('close', () => clearInterval(timer));
    },
    '/huge': (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: 'at-2', padding: 'x'.repeat(1024 * 1024) }));
    },
    '/gzip': (res) => {
      // Compressed whatever the request asked for, as a misbehaving provider might.
      const body = gzipSync(JSON.stringify({ access_token: 'at-3', token_type: 'bearer' }));
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
        'content-length': String(body.byteLength),
      });
      res.end(body);
    },
  };

  beforeAll(async () => {
    certs = createTestCertificates();
    server = createServer(
      { cert: readFileSync(certs.serverCertFile), key: readFileSync(certs.serverKeyFile) },
      (req, res) => {
        acceptEncodings.push(req.headers['accept-encoding']);
        req.resume();
        req.once('end', () => routes[req.url ?? '']?.(res));
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://localhost:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    certs?.remove();
  });

  const exchange = (path: string, bounds = { deadlineMs: 1_000, maxResponseBytes: 64 * 1024 }) =>
    grantClient({
      ...boundedTokenExchange(bounds, logger),
      ca: readFileSync(certs.caFile),
      method: 'POST',
      url: `${url}${path}`,
      form: { grant_type: 'authorization_code', code: 'c' },
    });

  it('answers a token response whole, over TLS verified against the host name', async () => {
    acceptEncodings.length = 0;
    expect((await exchange('/token')).body).toEqual({ access_token: 'at-1', token_type: 'bearer' });
    // Through grant's client: the exchange asks for the answer uncompressed.
    expect(acceptEncodings).toEqual(['identity']);
    // The server's certificate names localhost and 127.0.0.1: another name is refused.
    await expect(
      grantClient({
        ...boundedTokenExchange({ deadlineMs: 1_000, maxResponseBytes: 1024 }, logger),
        ca: readFileSync(certs.caFile),
        servername: 'provider.example',
        method: 'POST',
        url: `${url}/token`,
      }),
    ).rejects.toThrow(/altnames|Hostname/i);
  });

  it('cuts an answer that drips a byte at a time at the deadline, and says why', async () => {
    warnings.length = 0;
    const started = Date.now();
    await expect(exchange('/drip')).rejects.toThrow();
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(950);
    expect(took).toBeLessThan(3_000);
    expect(warnings).toEqual([
      expect.objectContaining({ reason: 'token_exchange_cut', cut: 'deadline', host: 'localhost' }),
    ]);
  });

  it('cuts an answer past the cap without reading the rest', async () => {
    warnings.length = 0;
    await expect(exchange('/huge')).rejects.toThrow();
    expect(warnings).toEqual([expect.objectContaining({ cut: 'response_too_large' })]);
    // With room for it, the same answer is read.
    const whole = await exchange('/huge', { deadlineMs: 5_000, maxResponseBytes: 2 * 1024 * 1024 });
    expect(whole.body).toMatchObject({ access_token: 'at-2' });
  });

  it('cuts a compressed answer over TLS before it is decoded', async () => {
    warnings.length = 0;
    await expect(exchange('/gzip')).rejects.toThrow(/compressed/);
    expect(warnings).toEqual([
      expect.objectContaining({ reason: 'token_exchange_cut', cut: 'compressed_response' }),
    ]);
  });
});

/**
 * Against a raw TCP server that writes an answer's bytes as given, a pause between writes so each arrives as its own
 * chunk: the head is read as it streams in, split anywhere, and only the head.
 */
describe('bounded token exchange against a raw HTTP/1.1 server (answers written byte for byte)', () => {
  let server: ReturnType<typeof createTcpServer>;
  let url: string;
  const warnings: unknown[] = [];
  const logger = { warn: (obj: unknown) => warnings.push(obj) };
  const requestHeads: string[] = [];
  const token = JSON.stringify({ access_token: 'at-raw', token_type: 'bearer' });
  const gzipped = gzipSync(token);
  const answers: Record<string, (string | Buffer)[]> = {
    '/split-gzip': [
      'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-en',
      'coding: gz',
      `ip\r\ncontent-length: ${gzipped.byteLength}\r\n\r`,
      Buffer.concat([Buffer.from('\n'), gzipped]),
    ],
    '/one-chunk-gzip': [
      Buffer.concat([
        Buffer.from(
          `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCONTENT-Encoding: GZip\r\n` +
            `Content-Length: ${gzipped.byteLength}\r\n\r\n`,
        ),
        gzipped,
      ]),
    ],
    '/deflate-after-identity': [
      `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: identity\r\n` +
        `Content-Encoding: deflate\r\nContent-Length: ${token.length}\r\n\r\n${token}`,
    ],
    // Informational heads come first on the connection (two in one write here, the second without a reason).
    '/informational-then-gzip': [
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103\r\nlink: </a.css>; rel=preload\r\n\r\n',
      `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\n`,
      `content-length: ${gzipped.byteLength}\r\n\r\n`,
      gzipped,
    ],
    '/identity': [
      'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-En',
      `coding: identity\r\nContent-Length: ${token.length}\r\n\r\n`,
      token,
    ],
    '/chunked': [
      'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n',
      `${(10).toString(16)}\r\n${token.slice(0, 10)}\r\n`,
      `${(token.length - 10).toString(16)}\r\n${token.slice(10)}\r\n0\r\n\r\n`,
    ],
    // What the body says is not a header: the head has ended.
    '/coding-in-body': (() => {
      const body = JSON.stringify({
        access_token: 'at-raw',
        note: '\r\ncontent-encoding: gzip\r\n\r\n',
      });
      return [
        `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`,
        body,
      ];
    })(),
    // Past the cap by a little, in one write: the chunk that crosses the cap completes the answer.
    '/just-past-cap': (() => {
      const body = JSON.stringify({ access_token: 'at-raw', padding: 'x'.repeat(70 * 1024) });
      return [
        `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      ];
    })(),
  };

  /** Reads a request (head and content-length body), then writes the answer for its path. */
  const serve = (socket: Socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => {});
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const headEnd = received.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const head = received.subarray(0, headEnd).toString('latin1');
      const length = Number(/^content-length:\s*(\d+)/im.exec(head)?.[1] ?? 0);
      if (received.byteLength < headEnd + 4 + length) return;
      socket.off('data', onData);
      requestHeads.push(head);
      const path = /^POST (\S+) /.exec(head)?.[1] ?? '';
      void (async () => {
        for (const [i, part] of (answers[path] ?? []).entries()) {
          if (i > 0) await sleep(30);
          if (socket.destroyed) return;
          socket.write(part);
        }
      })();
    };
    socket.on('data', onData);
  };

  beforeAll(async () => {
    server = createTcpServer(serve);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });

  const exchange = (path: string) =>
    grantClient({
      ...boundedTokenExchange({ deadlineMs: 2_000, maxResponseBytes: 64 * 1024 }, logger),
      method: 'POST',
      url: `${url}${path}`,
      form: { grant_type: 'authorization_code', code: 'c' },
    });

  it.each([
    '/split-gzip',
    '/one-chunk-gzip',
    '/deflate-after-identity',
    '/informational-then-gzip',
  ])(
    'cuts an answer whose head declares a content coding (%s), before it is decoded',
    async (path) => {
      warnings.length = 0;
      requestHeads.length = 0;
      await expect(exchange(path)).rejects.toThrow(/compressed/);
      expect(warnings).toEqual([
        expect.objectContaining({
          reason: 'token_exchange_cut',
          cut: 'compressed_response',
          host: '127.0.0.1',
        }),
      ]);
      expect(requestHeads).toEqual([expect.stringMatching(/^accept-encoding: identity$/im)]);
    },
  );

  it.each(['/identity', '/chunked', '/coding-in-body'])(
    'reads an uncompressed answer whole (%s)',
    async (path) => {
      warnings.length = 0;
      expect((await exchange(path)).body).toMatchObject({ access_token: 'at-raw' });
      expect(warnings).toEqual([]);
    },
  );

  it('cuts an answer a little past the cap even when the chunk that crosses it completes the answer', async () => {
    warnings.length = 0;
    await expect(exchange('/just-past-cap')).rejects.toThrow();
    expect(warnings).toEqual([expect.objectContaining({ cut: 'response_too_large' })]);
  });
});
