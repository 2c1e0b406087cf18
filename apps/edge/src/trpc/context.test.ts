import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { ZEdgeEnv } from '../env.schema';
import { DEFAULT_EDGE_LIMITS } from '../http/edge-limits';
import { bearerOf, clientIp } from './context';

const req = (remote: string, headers: Record<string, string> = {}) =>
  ({ socket: { remoteAddress: remote }, headers }) as unknown as IncomingMessage;

describe('client identity for limits and audit', () => {
  it('uses the socket address unless proxies are trusted, then the entry that many hops from the right', () => {
    const r = req('10.0.0.9', { 'x-forwarded-for': '6.6.6.6, 203.0.113.7, 10.0.0.2' });
    expect(clientIp(r)).toBe('10.0.0.9');
    expect(clientIp(r, 1)).toBe('10.0.0.2');
    expect(clientIp(r, 2)).toBe('203.0.113.7');
    // A client cannot push the chosen entry further left than the chain goes.
    expect(clientIp(req('10.0.0.9', { 'x-forwarded-for': '1.2.3.4' }), 5)).toBe('1.2.3.4');
    expect(clientIp(req('10.0.0.9'), 1)).toBe('10.0.0.9');
  });

  it('reads the bearer token from the Authorization header only, never from the URL', () => {
    expect(bearerOf(req('x', { authorization: 'Bearer otk_a ' }))).toBe('otk_a');
    expect(bearerOf(req('x', { authorization: 'Basic abc' }))).toBeUndefined();
  });

  it('has generous documented defaults and refuses nonsense limits', () => {
    const env = ZEdgeEnv.parse({});
    expect(env).toMatchObject({
      EDGE_MAX_BODY_BYTES: 262_144,
      EDGE_TRUSTED_PROXY_HOPS: 0,
      RATE_LIMIT_AUTH_FAILURES: 20,
      RATE_LIMIT_OAUTH: 600,
      RATE_LIMIT_TOKEN: 3_000,
    });
    expect(DEFAULT_EDGE_LIMITS.perToken).toEqual({ limit: 3_000, windowMs: 60_000 });
    expect(ZEdgeEnv.safeParse({ RATE_LIMIT_TOKEN: '0' }).success).toBe(false);
    expect(ZEdgeEnv.safeParse({ EDGE_MAX_BODY_BYTES: 'lots' }).success).toBe(false);
  });
});
