/** Signals that the server shut down while a handler was waiting. */
export class ShutdownError extends Error {
  constructor() {
    super('fake provider is shutting down');
  }
}

/** Per-server plumbing shared by handlers: base URL and cancellable delays. */
export class ServerRuntime {
  baseUrl = '';
  private closing = false;
  private readonly pending = new Set<{ timer: NodeJS.Timeout; reject: (e: Error) => void }>();

  get isClosing(): boolean {
    return this.closing;
  }

  /** Delays that close() can cut short, so injected latency never holds up shutdown. */
  delay(ms: number): Promise<void> {
    if (this.closing) return Promise.reject(new ShutdownError());
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const entry = {
        timer: setTimeout(() => {
          this.pending.delete(entry);
          resolve();
        }, ms),
        reject,
      };
      this.pending.add(entry);
    });
  }

  shutdown(): void {
    this.closing = true;
    for (const entry of this.pending) {
      clearTimeout(entry.timer);
      entry.reject(new ShutdownError());
    }
    this.pending.clear();
  }
}
