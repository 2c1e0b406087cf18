import { describe, expect, it } from 'vitest';
import { pgArray } from './claim';

describe('pgArray', () => {
  it('quotes every element and escapes quotes and backslashes; null stays NULL', () => {
    expect(pgArray([])).toBe('{}');
    expect(pgArray(['a', null, '2026-01-01T00:00:00.000Z'])).toBe(
      '{"a",NULL,"2026-01-01T00:00:00.000Z"}',
    );
    expect(pgArray(['x"y', 'a\\b', 'c,d', '{e}'])).toBe('{"x\\"y","a\\\\b","c,d","{e}"}');
  });
});
