import { describe, expect, it } from 'vitest';
import { nextRunAt } from './next-run';

const at = (iso: string) => new Date(iso);

describe('nextRunAt', () => {
  it('keeps an interval job on its own grid and collapses missed slots into one', () => {
    const schedule = { kind: 'interval', everySeconds: 900 } as const;
    // Claimed 2 minutes late: the next run is the next slot, not now + 15 min.
    expect(nextRunAt(schedule, at('2026-01-01T10:00:00Z'), at('2026-01-01T10:02:00Z'))).toEqual(
      at('2026-01-01T10:15:00Z'),
    );
    // Hours of missed slots (replicas down): one run now, the next on the grid after now.
    expect(nextRunAt(schedule, at('2026-01-01T10:00:00Z'), at('2026-01-01T13:07:00Z'))).toEqual(
      at('2026-01-01T13:15:00Z'),
    );
    // Exactly on a slot: the following slot.
    expect(nextRunAt(schedule, at('2026-01-01T10:00:00Z'), at('2026-01-01T10:15:00Z'))).toEqual(
      at('2026-01-01T10:30:00Z'),
    );
  });

  it('counts from now for a job without a schedule time or one in the future (run now)', () => {
    const schedule = { kind: 'interval', everySeconds: 60 } as const;
    expect(nextRunAt(schedule, null, at('2026-01-01T10:00:30Z'))).toEqual(
      at('2026-01-01T10:01:30Z'),
    );
    expect(nextRunAt(schedule, at('2026-01-01T11:00:00Z'), at('2026-01-01T10:00:30Z'))).toEqual(
      at('2026-01-01T10:01:30Z'),
    );
  });

  it('takes the next cron occurrence after now, in UTC', () => {
    const schedule = { kind: 'cron', expression: '0 */6 * * *' } as const;
    expect(nextRunAt(schedule, at('2026-01-01T00:00:00Z'), at('2026-01-01T07:59:00Z'))).toEqual(
      at('2026-01-01T12:00:00Z'),
    );
    expect(
      nextRunAt({ kind: 'cron', expression: '30 9 * * 1' }, null, at('2026-01-01T00:00:00Z')),
    ).toEqual(at('2026-01-05T09:30:00Z'));
  });
});
