import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
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
  };

  beforeAll(async () => {
    certs = createTestCertificates();
    server = createServer(
      { cert: readFileSync(certs.serverCertFile), key: readFileSync(certs.serverKeyFile) },
      (req, res) => {
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
    expect((await exchange('/token')).body).toEqual({ access_token: 'at-1', token_type: 'bearer' });
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
});
