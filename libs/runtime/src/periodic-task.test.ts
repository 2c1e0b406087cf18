import { describe, expect, it } from 'vitest';
import { createLogger } from '@otesse/logging';
import { startPeriodicTask } from './periodic-task';

const logger = createLogger({ name: 'periodic-task-test', level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Polls until `ok()` (timers may run late on a loaded machine: the bound is generous). */
async function until(ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

describe('startPeriodicTask', () => {
  it('runs again after each run ends, never two at once, and goes on after a failed run', async () => {
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    const task = startPeriodicTask({
      what: 'test task',
      delayMs: 5,
      logger,
      run: async () => {
        runs += 1;
        active += 1;
        maxActive = Math.max(maxActive, active);
        await sleep(15);
        active -= 1;
        if (runs === 2) throw new Error('a failed run');
        return runs;
      },
    });
    // A run asked for meanwhile joins the one in progress.
    const [a, b] = await Promise.all([task.runOnce(), task.runOnce()]);
    expect(a).toBe(b);
    await until(() => runs >= 4);
    await task.stop();
    expect(maxActive).toBe(1);
  });

  it('stop waits for the run in progress, which sees it stopped, and no run starts after it', async () => {
    let sawStopped = false;
    let runs = 0;
    let release: () => void = () => undefined;
    const task = startPeriodicTask({
      what: 'test task',
      delayMs: 1,
      logger,
      run: async (t) => {
        runs += 1;
        await new Promise<void>((r) => {
          release = r;
        });
        sawStopped = t.stopped;
      },
    });
    await until(() => runs === 1);
    const stopping = task.stop();
    release();
    await stopping;
    expect(sawStopped).toBe(true);
    await sleep(20);
    expect(runs).toBe(1);
  });
});
