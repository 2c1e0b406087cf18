import { describe, expect, it } from 'vitest';
import { ormOptions } from './orm';

describe('ormOptions', () => {
  const cfg = {
    url: 'postgres://x@127.0.0.1:5432/otesse',
    schema: 's',
    entities: [],
    migrations: [],
  };
  it('sizes the pool from poolMax (DATABASE_POOL_MAX), 10 by default', () => {
    expect(ormOptions(cfg).pool).toEqual({ min: 0, max: 10 });
    expect(ormOptions({ ...cfg, poolMax: 3 }).pool).toEqual({ min: 0, max: 3 });
    expect(ormOptions({ ...cfg, poolMax: undefined }).pool).toEqual({ min: 0, max: 10 });
  });
});
