import type { NatsConnection } from 'nats';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { TConnectionAbandonedEvent } from '@otesse/contracts';
import type { Logger } from '@otesse/logging';
import { consumeDurable, type TConsumerHandle } from '@otesse/messaging';
import { counter } from '@otesse/telemetry';
import { destroyLiveCredentials, lockConnection, VAULT_DB_SCHEMA } from '../credential-records';

/** Credentials destroyed because their connect was abandoned: non-zero means connects die after the store. */
export const abandonedCredentialsDestroyed = counter(
  'otesse_vault_abandoned_credentials_destroyed_total',
  'Credentials destroyed on integrations.connection.abandoned (stored by a connect that never finished).',
  [],
);

/** The vault's durable consumer of abandoned connects on the INTEGRATIONS stream. */
export const ABANDONED_CONNECTS_DURABLE = 'vault-abandoned-connects';

/**
 * A connect that will never finish: under the connection's advisory lock (the one every store takes), the
 * connection is closed to new credentials and whatever the vault already holds for it is destroyed, in one
 * transaction. Idempotent: a redelivery finds it closed and nothing left to destroy. Returns what it destroyed.
 */
export async function closeAbandonedConnection(
  orm: MikroORM,
  event: Pick<TConnectionAbandonedEvent, 'orgId' | 'connectionId' | 'reason'>,
): Promise<number> {
  const knex = orm.em.getConnection().getKnex();
  return knex.transaction(async (trx) => {
    await lockConnection(trx, event.connectionId);
    const now = new Date();
    await trx('closed_connection')
      .withSchema(VAULT_DB_SCHEMA)
      .insert({
        connection_id: event.connectionId,
        org_id: event.orgId,
        reason: event.reason,
        closed_at: now,
      })
      .onConflict('connection_id')
      .ignore();
    return destroyLiveCredentials(trx, event, now);
  });
}

/** Consumes `integrations.connection.abandoned`; a failure (database down) is redelivered later. */
export function consumeAbandonedConnects(deps: {
  nc: NatsConnection;
  orm: MikroORM;
  logger: Logger;
}): Promise<TConsumerHandle> {
  return consumeDurable(deps.nc, {
    stream: 'INTEGRATIONS',
    durable: ABANDONED_CONNECTS_DURABLE,
    subjects: ['integrations.connection.abandoned'],
    logger: deps.logger,
    batch: 64,
    handler: async (event, { ctx }) => {
      const destroyed = await closeAbandonedConnection(deps.orm, event);
      if (destroyed > 0) abandonedCredentialsDestroyed.inc(destroyed);
      deps.logger.info(
        {
          orgId: event.orgId,
          connectionId: event.connectionId,
          reason: event.reason,
          destroyed,
          traceId: ctx.traceId,
        },
        'abandoned connect closed',
      );
    },
  });
}
