import { describe, expect, it } from 'vitest';
import { reviseSql } from './revise-sql';

describe('reviseSql', () => {
  it('applies each edit in order', () => {
    expect(reviseSql('select a from t where b', ['a', 'a, c'], ['where b', 'where b and c'])).toBe(
      'select a, c from t where b and c',
    );
  });

  it('refuses an edit that does not match exactly once', () => {
    expect(() => reviseSql('select a from t', ['x', 'y'])).toThrow(/exactly one occurrence/);
    expect(() => reviseSql('a = a', ['a', 'b'])).toThrow(/exactly one occurrence/);
  });
});
