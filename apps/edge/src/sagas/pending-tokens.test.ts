import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PendingTokens } from './reconnect.saga';

describe("PendingTokens (a reconnect's new tokens, waiting in memory for the swap)", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('hands an access token over with the lifetime it has left, and keeps nothing past ten minutes', () => {
    const tokens = new PendingTokens();
    tokens.put('s1', [
      { kind: 'access_token', value: 'a'.repeat(20), expiresInSec: 3_600 },
      { kind: 'refresh_token', value: 'r'.repeat(20), expiresAt: null },
    ]);
    expect(tokens.take('s1')?.[0]).toMatchObject({ expiresInSec: 3_600 });
    // A swap retried while the vault was away: the provider's hour started when it answered, not now.
    vi.advanceTimersByTime(125_000);
    expect(tokens.take('s1')).toEqual([
      { kind: 'access_token', value: 'a'.repeat(20), expiresInSec: 3_475 },
      { kind: 'refresh_token', value: 'r'.repeat(20), expiresAt: null },
    ]);
    vi.advanceTimersByTime(474_000);
    expect(tokens.take('s1')?.[0]).toMatchObject({ expiresInSec: 3_001 });
    vi.advanceTimersByTime(2_000);
    expect(tokens.take('s1')).toBeUndefined();
  });

  it('never hands over a lifetime below one second', () => {
    const tokens = new PendingTokens();
    tokens.put('s2', [{ kind: 'access_token', value: 'a'.repeat(20), expiresInSec: 30 }]);
    vi.advanceTimersByTime(90_000);
    expect(tokens.take('s2')?.[0]).toMatchObject({ expiresInSec: 1 });
  });
});
