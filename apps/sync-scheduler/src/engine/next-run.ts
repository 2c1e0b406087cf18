import { CronExpressionParser } from 'cron-parser';
import type { TSchedule } from '@otesse/contracts';

/**
 * When a job claimed at `now` runs next. Interval: the first slot after `now` on the job's own grid (`scheduled` +
 * k·every), so runs do not drift and a backlog of missed slots collapses into the one run being claimed. Cron: the
 * expression's next occurrence after `now` (UTC).
 */
export function nextRunAt(schedule: TSchedule, scheduled: Date | null, now: Date): Date {
  if (schedule.kind === 'cron') {
    return CronExpressionParser.parse(schedule.expression, { currentDate: now, tz: 'UTC' })
      .next()
      .toDate();
  }
  const every = schedule.everySeconds * 1000;
  const base =
    scheduled && scheduled.getTime() <= now.getTime() ? scheduled.getTime() : now.getTime();
  const steps = Math.floor((now.getTime() - base) / every) + 1;
  return new Date(base + steps * every);
}

/** Throws for an expression cron-parser refuses (the contract checks only its shape). */
export function assertValidCron(expression: string): void {
  CronExpressionParser.parse(expression, { tz: 'UTC' });
}
