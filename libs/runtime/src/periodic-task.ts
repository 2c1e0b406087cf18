import type { Logger } from '@otesse/logging';

export interface TPeriodicTask<T> {
  /** Runs the task now, or joins the run in progress (never two at once). */
  runOnce(): Promise<T>;
  /** No further runs; waits for the one in progress. */
  stop(): Promise<void>;
  /** True once `stop` was called: a long run checks it between items. */
  readonly stopped: boolean;
}

/**
 * A background task run every `delayMs` after the previous run ended (so runs never overlap or pile up), until
 * stopped. A failed run is logged as `<what> failed` and the next one comes on schedule.
 */
export function startPeriodicTask<T>(opts: {
  what: string;
  delayMs: number;
  logger: Logger;
  run: (task: { readonly stopped: boolean }) => Promise<T>;
}): TPeriodicTask<T> {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<T> | undefined;
  const task: TPeriodicTask<T> = {
    get stopped() {
      return stopped;
    },
    runOnce: () => {
      running ??= opts.run(task).finally(() => {
        running = undefined;
      });
      return running;
    },
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      task
        .runOnce()
        .catch((e: unknown) => opts.logger.warn({ err: e }, `${opts.what} failed`))
        .finally(schedule);
    }, opts.delayMs);
  };
  schedule();
  return task;
}
