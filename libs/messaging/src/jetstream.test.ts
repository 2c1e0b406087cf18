import { describe, expect, it } from 'vitest';
import { retryDelayFor } from './jetstream';

describe('retryDelayFor', () => {
  it('doubles from the first delay per delivery, up to the cap', () => {
    const opts = { retryDelayMs: 1_000, maxRetryDelayMs: 60_000 };
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => retryDelayFor(n, opts))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000,
    ]);
    // A message redelivered for days stays at the cap (no overflow).
    expect(retryDelayFor(10_000, opts)).toBe(60_000);
  });

  it('defaults to a second, then a minute at most; a cap below the first delay is the first delay', () => {
    expect(retryDelayFor(1, {})).toBe(1_000);
    expect(retryDelayFor(50, {})).toBe(60_000);
    expect(retryDelayFor(3, { retryDelayMs: 5_000, maxRetryDelayMs: 10 })).toBe(5_000);
  });
});
