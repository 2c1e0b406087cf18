import { resolve } from 'node:path';

/**
 * The environment that makes a spawned process' clock run `offsetMs` off (ahead when positive): its `Date` reads the
 * skewed time, as on a machine whose clock drifted. For tests of what several processes judge by time.
 */
export function skewedClockEnv(offsetMs: number): Record<string, string> {
  const preload = resolve(import.meta.dirname, 'skewed-clock.preload.mjs');
  return {
    NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import ${preload}`.trim(),
    OTESSE_TEST_CLOCK_OFFSET_MS: String(offsetMs),
  };
}
