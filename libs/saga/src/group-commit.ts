/** Most calls one group-commit statement carries (its jsonb parameter stays small). */
const MAX_BATCH = 64;

/**
 * Group commit: calls made during one turn of the event loop are written together by one `write` (one statement,
 * one transaction, one WAL flush). Under load many sagas reach a transition in the same turn (their replies arrive
 * together); alone, a call waits one `setImmediate` at most. Every caller learns the outcome of the write that
 * carried it. A batch that fails is written again one call at a time, so one bad call (a value the database
 * refuses) fails alone instead of taking the others with it.
 */
export class GroupCommit<TIn, TOut> {
  private queue: { item: TIn; resolve: (v: TOut) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;

  constructor(private readonly write: (items: TIn[]) => Promise<TOut[]>) {}

  run(item: TIn): Promise<TOut> {
    return new Promise<TOut>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.drain());
      }
    });
  }

  private drain(): void {
    this.scheduled = false;
    while (this.queue.length > 0) void this.flush(this.queue.splice(0, MAX_BATCH));
  }

  private async flush(
    batch: { item: TIn; resolve: (v: TOut) => void; reject: (e: unknown) => void }[],
  ): Promise<void> {
    try {
      const out = await this.write(batch.map((b) => b.item));
      batch.forEach((b, i) => b.resolve(out[i]!));
    } catch (e) {
      if (batch.length === 1) {
        batch[0]!.reject(e);
        return;
      }
      await Promise.all(batch.map((b) => this.flush([b])));
    }
  }
}
