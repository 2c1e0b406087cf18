import { describe, expect, it } from 'vitest';
import { definedOnly } from './env';

describe('definedOnly', () => {
  it('keeps the variables that are set (0 and empty strings included) and drops the unset ones', () => {
    expect(definedOnly({ sweepIntervalMs: 0, staleAfterMs: undefined, name: '' })).toEqual({
      sweepIntervalMs: 0,
      name: '',
    });
    expect(Object.keys(definedOnly({ a: undefined }))).toEqual([]);
  });
});
