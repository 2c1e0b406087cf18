import type { Knex, MikroORM } from '@mikro-orm/postgresql';
import { STALE_PENDING_CONNECTION_MS } from '@otesse/contracts';
import type { Logger } from '@otesse/logging';
import { newTraceId, type EventPublisher } from '@otesse/messaging';
import { startPeriodicTask, type TPeriodicTask } from '@otesse/runtime';
import { abandonPendingConnection } from '../store/abandoned-connects';
import { publishOwedEvents, purgePublishedEvents } from '../store/event-outbox';
import { connectsAbandoned } from './abandoned-metrics';
import { SCHEMA, lockConnection } from '../store/connection.store';
import { databaseTimeIn } from '@otesse/persistence';

export interface TPendingSweepSettings {
  /** Between two sweeps of one replica. */
  intervalMs: number;
  /** A pending connection older than this is abandoned (its connect will never finish). */
  staleAfterMs: number;
  /** Connections abandoned, and outbox events published, per sweep at most. */
  batch: number;
}

export const DEFAULT_PENDING_SWEEP: TPendingSweepSettings = {
  intervalMs: 30_000,
  staleAfterMs: STALE_PENDING_CONNECTION_MS,
  batch: 100,
};

export interface TSweepResult {
  abandoned: number;
  /**
   * Owed events of the event outbox published (connected, refresh_token_expired, abandoned, and the audit entries
   * of the latter two).
   */
  eventsPublished: number;
}

/**
 * Connects that will never finish (an edge killed between the provider's callback and the activation): every
 * interval, pending connections older than `staleAfterMs` are abandoned (`connect_expired`: error, the instance
 * back to what it was) each in its own transaction under its row locks, re-checked there, so replicas sweeping at
 * once and a connect finishing at that moment settle on the row lock; that transaction owes
 * `integrations.connection.abandoned` (the vault destroys what it stored and closes the connection to new
 * credentials) and its audit entry in the event outbox. Then the event outbox is published: those, the abandoned
 * events whose publish failed after an abandon request and those a new connect owed when it found a stale pending
 * connection in its slot, the `connected` and `refresh_token_expired` events (and the latter's audit entry) whose
 * publish after their commit failed or never ran — each the same message as its first attempt; published ones
 * older than a week are deleted.
 */
export function startPendingConnectSweep(deps: {
  orm: MikroORM;
  events: EventPublisher;
  logger: Logger;
  settings: TPendingSweepSettings;
}): TPeriodicTask<TSweepResult> {
  const { settings, logger } = deps;
  const knex = deps.orm.em.getConnection().getKnex();

  const abandonStale = async (task: { readonly stopped: boolean }): Promise<number> => {
    const olderThan = (db: Knex | Knex.Transaction): Knex.Raw =>
      databaseTimeIn(db, -settings.staleAfterMs);
    const candidates = (await knex('integration_connection')
      .withSchema(SCHEMA)
      .where({ status: 'pending' })
      .andWhere('created_at', '<', olderThan(knex))
      .orderBy('created_at')
      .limit(settings.batch)
      .select('id', 'org_id')) as { id: string; org_id: string }[];
    let abandoned = 0;
    for (const c of candidates) {
      if (task.stopped) break;
      try {
        const done = await knex.transaction(async (trx) => {
          const locked = await lockConnection(trx, c.org_id, c.id);
          // Re-checked under the lock: activated, abandoned or swept by another replica meanwhile.
          const still = await trx('integration_connection')
            .withSchema(SCHEMA)
            .where({ id: c.id, status: 'pending' })
            .andWhere('created_at', '<', olderThan(trx))
            .first('id');
          if (!still) return false;
          await abandonPendingConnection(trx, locked, 'connect_expired', { traceId: newTraceId() });
          return true;
        });
        if (done) {
          abandoned += 1;
          connectsAbandoned.inc({ how: 'connect_expired' });
          logger.info({ connectionId: c.id, orgId: c.org_id }, 'abandoned an expired connect');
        }
      } catch (e) {
        logger.warn({ err: e, connectionId: c.id }, 'abandoning an expired connect failed');
      }
    }
    return abandoned;
  };

  return startPeriodicTask({
    what: 'pending connect sweep',
    delayMs: settings.intervalMs,
    logger,
    run: async (task): Promise<TSweepResult> => {
      const abandoned = await abandonStale(task);
      const { published: eventsPublished } = await publishOwedEvents(
        { db: knex, events: deps.events, logger },
        { limit: settings.batch },
      );
      await purgePublishedEvents(knex, { limit: settings.batch });
      return { abandoned, eventsPublished };
    },
  });
}
