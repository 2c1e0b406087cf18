import { describe, expect, it } from 'vitest';
import { GroupCommit } from './group-commit';

describe('GroupCommit', () => {
  it('writes the calls of one turn together and answers each its own result', async () => {
    const writes: number[][] = [];
    const gc = new GroupCommit<number, number>(async (items) => {
      writes.push(items);
      return items.map((n) => n * 10);
    });
    const out = await Promise.all([1, 2, 3].map((n) => gc.run(n)));
    expect(out).toEqual([10, 20, 30]);
    expect(writes).toEqual([[1, 2, 3]]);
    // A later turn is another write.
    expect(await gc.run(4)).toBe(40);
    expect(writes).toEqual([[1, 2, 3], [4]]);
  });

  it('carries at most 64 calls per write', async () => {
    const sizes: number[] = [];
    const gc = new GroupCommit<number, number>(async (items) => {
      sizes.push(items.length);
      return items;
    });
    await Promise.all(Array.from({ length: 150 }, (_, i) => gc.run(i)));
    expect(sizes).toEqual([64, 64, 22]);
  });

  it('a failed batch is written again call by call: only the bad call fails', async () => {
    const writes: string[][] = [];
    const gc = new GroupCommit<string, string>(async (items) => {
      writes.push(items);
      if (items.includes('poison')) throw new Error('refused');
      return items.map((s) => s.toUpperCase());
    });
    const out = await Promise.allSettled(['a', 'poison', 'b'].map((s) => gc.run(s)));
    expect(
      out.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message)),
    ).toEqual(['A', 'refused', 'B']);
    expect(writes).toEqual([['a', 'poison', 'b'], ['a'], ['poison'], ['b']]);
  });
});
