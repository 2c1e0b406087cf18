import type { MikroORM } from '@mikro-orm/postgresql';
import { AppError } from '@otesse/contracts';
import type { Logger } from '@otesse/logging';
import type { EventPublisher, THandler } from '@otesse/messaging';
import { connectsAbandoned } from '../pending/abandoned-metrics';
import { abandonPendingConnection } from '../store/abandoned-connects';
import { loadConnection, lockConnection } from '../store/connection.store';
import { publishOwedEvents } from '../store/event-outbox';

/**
 * A connect that failed half-way: the pending connection ends `error` (the instance goes back to what it was when
 * no other connection is live) with `integrations.connection.abandoned` owed in the event outbox, in one
 * transaction; the event is published after the commit, so the vault destroys what it stored for it. A failed
 * publish stays owed for the sweep; the answer does not wait for it. A repeated abandon publishes what the
 * connection still owes. A person's cancel (`cancelledBy`) owes its audit entry too, naming them.
 */
export function abandonConnectionHandler(deps: {
  orm: MikroORM;
  events: EventPublisher;
  logger: Logger;
}): THandler<'connection.connections.abandon'> {
  return async (req, ctx) => {
    const knex = deps.orm.em.getConnection().getKnex();
    let abandonedNow = false;
    const connection = await knex.transaction(async (trx) => {
      const locked = await lockConnection(trx, req.orgId, req.connectionId);
      const status = locked.connection.status;
      if (status !== 'error') {
        if (status !== 'pending') {
          throw new AppError('CONFLICT', `connection is ${status}, not pending`, {
            reason: 'not_pending',
            details: { status },
          });
        }
        await abandonPendingConnection(
          trx,
          locked,
          req.reason,
          { traceId: ctx.traceId },
          req.cancelledBy,
        );
        abandonedNow = true;
      }
      return loadConnection(trx, req.orgId, req.connectionId);
    });
    if (abandonedNow) connectsAbandoned.inc({ how: req.cancelledBy ? 'cancelled' : 'requested' });
    await publishOwedEvents(
      { db: knex, events: deps.events, logger: deps.logger },
      // Bounded well inside the caller's timeout: with JetStream down, the answer must not wait for it.
      { connectionIds: [connection.id], timeoutMs: 1_000 },
    );
    return { connection };
  };
}
