/**
 * A map whose entries last `ttlMs` and of which at most `max` are kept (the oldest set goes first): for what a
 * process remembers for a while and must never let grow without bound (endpoints it served, reports it could not
 * store yet).
 */
export class BoundedTtlMap<V> {
  private readonly entries = new Map<string, { value: V; at: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly max: number,
  ) {}

  /** Sets (or refreshes) the key: it becomes the newest, and the oldest goes when the map is full. */
  set(key: string, value: V): void {
    this.entries.delete(key);
    if (this.entries.size >= this.max) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { value, at: Date.now() });
  }

  /** The value while it is younger than `ttlMs`; an older one is dropped. */
  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    if (Date.now() - e.at < this.ttlMs) return e.value;
    this.entries.delete(key);
    return undefined;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
