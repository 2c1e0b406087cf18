/** How the engine talks to one running execution: cancel (NATS or DB), graceful stop, lost lease. */
export class ExecutionControl {
  private readonly fetches = new AbortController();
  cancelled = false;
  stopping = false;
  lost = false;

  /** Aborts the page fetch in flight (its page would not be written anyway). */
  get signal(): AbortSignal {
    return this.fetches.signal;
  }

  /** A user or a disconnect cancelled it: stop before the next page (the row is already `cancelled`). */
  cancel(): void {
    this.cancelled = true;
    this.fetches.abort();
  }

  /** Graceful stop: finish the batch being written, then release the lease. */
  stop(): void {
    this.stopping = true;
  }

  /** Graceful stop took too long: give up the page being fetched too. */
  forceStop(): void {
    this.stopping = true;
    this.fetches.abort();
  }

  /** The execution is no longer ours (failed by a sweeper, taken over, cancelled in the database). */
  lose(): void {
    this.lost = true;
    this.fetches.abort();
  }

  abortFetches(): void {
    this.fetches.abort();
  }
}
