import { describe, expect, it } from 'vitest';
import { AppError } from '@otesse/contracts';
import { RateLimiter, rateLimitedError, retryAfterOf } from './rate-limiter';

describe('RateLimiter (token bucket per key)', () => {
  const clock = () => {
    let now = 1_000_000;
    return { now: () => now, advance: (ms: number) => (now += ms) };
  };

  it('allows `limit` at once, then refuses with the seconds until one more is allowed', () => {
    const c = clock();
    const rl = new RateLimiter('t', { limit: 3, windowMs: 6_000, now: c.now });
    expect([rl.take('a'), rl.take('a'), rl.take('a')]).toEqual([
      { ok: true },
      { ok: true },
      { ok: true },
    ]);
    expect(rl.take('a')).toEqual({ ok: false, retryAfterSec: 2 });
    c.advance(1_000);
    expect(rl.take('a')).toEqual({ ok: false, retryAfterSec: 1 });
    c.advance(1_000);
    expect(rl.take('a')).toEqual({ ok: true });
    expect(rl.take('b')).toEqual({ ok: true });
  });

  it('refills evenly up to the limit, never beyond', () => {
    const c = clock();
    const rl = new RateLimiter('t', { limit: 2, windowMs: 1_000, now: c.now });
    rl.take('a');
    rl.take('a');
    c.advance(60_000);
    expect([rl.take('a'), rl.take('a'), rl.take('a').ok]).toEqual([
      { ok: true },
      { ok: true },
      false,
    ]);
  });

  it('check() looks without taking (limits on failures charge only failed requests)', () => {
    const c = clock();
    const rl = new RateLimiter('t', { limit: 1, windowMs: 1_000, now: c.now });
    expect(rl.check('a')).toEqual({ ok: true });
    expect(rl.check('a')).toEqual({ ok: true });
    rl.take('a');
    expect(rl.check('a')).toEqual({ ok: false, retryAfterSec: 1 });
    // Looking at keys nobody was charged to stores nothing.
    for (let i = 0; i < 100; i++) expect(rl.check(`never-charged-${i}`)).toEqual({ ok: true });
    expect((rl as unknown as { buckets: Map<string, unknown> }).buckets.size).toBe(1);
  });

  it('keeps at most maxKeys buckets, dropping full ones first', () => {
    const c = clock();
    const rl = new RateLimiter('t', { limit: 1, windowMs: 1_000, maxKeys: 10, now: c.now });
    rl.take('busy');
    for (let i = 0; i < 100; i++) rl.take(`idle-${i}`);
    expect((rl as unknown as { buckets: Map<string, unknown> }).buckets.size).toBeLessThanOrEqual(
      10,
    );
  });

  it('builds the typed TOO_MANY_REQUESTS error that carries the wait', () => {
    const rl = new RateLimiter('oauth', { limit: 1, windowMs: 1_000 });
    const e = rateLimitedError(rl, 7);
    expect(e).toBeInstanceOf(AppError);
    expect(e.toReply()).toEqual({
      error: {
        code: 'TOO_MANY_REQUESTS',
        message: 'too many requests; retry after 7 s',
        reason: 'rate_limited',
        details: { limit: 'oauth', retryAfterSec: 7 },
      },
    });
    expect(retryAfterOf(e)).toBe(7);
    expect(retryAfterOf(new AppError('BAD_REQUEST', 'x'))).toBeUndefined();
    expect(retryAfterOf(new Error('x'))).toBeUndefined();
  });
});
