import { afterEach, describe, expect, it, vi } from 'vitest';
import { BoundedTtlMap } from './bounded-ttl-map';

describe('BoundedTtlMap', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('forgets an entry once it is older than its time to live', () => {
    vi.useFakeTimers();
    const m = new BoundedTtlMap<string>(1_000, 10);
    m.set('a', 'x');
    vi.advanceTimersByTime(999);
    expect(m.get('a')).toBe('x');
    vi.advanceTimersByTime(1);
    expect(m.get('a')).toBeUndefined();
    expect(m.has('a')).toBe(false);
    expect(m.size).toBe(0);
  });

  it('keeps at most max entries, dropping the oldest set; setting again makes a key the newest', () => {
    const m = new BoundedTtlMap<number>(60_000, 2);
    m.set('a', 1);
    m.set('b', 2);
    m.set('a', 3);
    m.set('c', 4);
    expect([m.get('a'), m.get('b'), m.get('c')]).toEqual([3, undefined, 4]);
    expect(m.size).toBe(2);
    m.delete('a');
    expect(m.has('a')).toBe(false);
  });
});
