import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { uuidV7 } from './uuid-v7';

describe('uuidV7', () => {
  it('is a version-7 RFC 9562 uuid, valid wherever a uuid is (zod, Postgres)', () => {
    const id = uuidV7();
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(z.uuid().safeParse(id).success).toBe(true);
  });

  it('sorts by its time: a later millisecond sorts after, as text and as Postgres orders uuids', () => {
    const t = Date.UTC(2026, 10, 25, 4, 0, 0);
    const ids = [uuidV7(t + 2), uuidV7(t), uuidV7(t + 1_000), uuidV7(t + 1)];
    expect([...ids].sort()).toEqual([ids[1], ids[3], ids[0], ids[2]]);
  });

  it('two ids of the same millisecond differ', () => {
    const t = Date.now();
    expect(new Set(Array.from({ length: 1_000 }, () => uuidV7(t))).size).toBe(1_000);
  });
});
