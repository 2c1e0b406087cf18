import type { Knex } from '@mikro-orm/postgresql';
import type { Bus } from '@otesse/messaging';
import type { Logger } from '@otesse/logging';
import { startPeriodicTask, type TPeriodicTask } from '@otesse/runtime';
import { purgeSagaHistory, releaseIdempotencyRecords } from '@otesse/saga';

/** The services that dedupe saga commands: each is told to forget the released keys. */
const FORGET_SUBJECTS = [
  'connection.idempotency-records.forget',
  'sync-scheduler.idempotency-records.forget',
  'vault.idempotency-records.forget',
] as const;

/**
 * Each edge, every `intervalMs`, releases the idempotency records of sagas that ended more than `retentionMs` ago:
 * all three services must confirm, or the same sagas are released again on the next run (a service that is down
 * only delays it). Then, with a `historyRetentionMs`, it deletes the log of released sagas that ended longer ago
 * than that. Its first run one interval after the start.
 */
export function startSagaRecordRelease(opts: {
  knex: () => Knex;
  schema: string;
  bus: Bus;
  logger: Logger;
  retentionMs: number;
  /** How long the log keeps a released saga; 0: for ever. */
  historyRetentionMs: number;
  intervalMs: number;
}): TPeriodicTask<void> {
  return startPeriodicTask({
    what: "releasing ended sagas' idempotency records",
    delayMs: opts.intervalMs,
    logger: opts.logger,
    run: async (task) => {
      const released = await releaseIdempotencyRecords(opts.knex(), {
        schema: opts.schema,
        retentionMs: opts.retentionMs,
        stopped: () => task.stopped,
        forget: async (keys) => {
          await Promise.all(
            FORGET_SUBJECTS.map((subject) =>
              opts.bus.request(subject, { keys }, { timeoutMs: 10_000 }),
            ),
          );
        },
      });
      if (released.sagas > 0)
        opts.logger.info(released, "ended sagas' idempotency records released");
      if (opts.historyRetentionMs > 0 && !task.stopped) {
        const deleted = await purgeSagaHistory(opts.knex(), {
          schema: opts.schema,
          retentionMs: opts.historyRetentionMs,
          stopped: () => task.stopped,
        });
        if (deleted > 0)
          opts.logger.info({ deleted }, 'ended sagas past the history retention deleted');
      }
    },
  });
}
