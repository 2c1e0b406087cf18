import type { NatsConnection } from 'nats';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { TConnectionAbandonedEvent } from '@otesse/contracts';
import type { Logger } from '@otesse/logging';
import { consumeDurable, type TConsumerHandle } from '@otesse/messaging';
import { counter } from '@otesse/telemetry';
import { lockConnection, VAULT_DB_SCHEMA } from '../credential-records';
import { discardsOf, type TDiscard, type TokenDiscarder } from '../discard/token-discarder';

/** Credentials destroyed because their connect was abandoned: non-zero means connects die after the store. */
export const abandonedCredentialsDestroyed = counter(
  'otesse_vault_abandoned_credentials_destroyed_total',
  'Credentials revoked (where the provider can) and destroyed on integrations.connection.abandoned (stored by a connect that never finished).',
  [],
);

/** The vault's durable consumer of abandoned connects on the INTEGRATIONS stream. */
export const ABANDONED_CONNECTS_DURABLE = 'vault-abandoned-connects';

/**
 * A connect that will never finish: under the connection's advisory lock (the one every store takes), the
 * connection is closed to new credentials and whatever the vault holds for it is retired and marked to be discarded,
 * in one transaction; the discarder then revokes the tokens at the provider and destroys them (its sweep finishes
 * what fails). Idempotent: a redelivery finds it closed, and its discard already done or going. Returns the discards
 * (none when nothing was stored).
 */
export async function closeAbandonedConnection(
  orm: MikroORM,
  event: Pick<TConnectionAbandonedEvent, 'orgId' | 'connectionId' | 'reason'>,
): Promise<TDiscard[]> {
  const knex = orm.em.getConnection().getKnex();
  // Dated by the database: the sweep that may finish the discard judges its age by the same clock.
  const marked = await knex.transaction(async (trx) => {
    await lockConnection(trx, event.connectionId);
    await trx('closed_connection')
      .withSchema(VAULT_DB_SCHEMA)
      .insert({
        connection_id: event.connectionId,
        org_id: event.orgId,
        reason: event.reason,
        closed_at: trx.fn.now(),
      })
      .onConflict('connection_id')
      .ignore();
    return (await trx('credential')
      .withSchema(VAULT_DB_SCHEMA)
      .where({ org_id: event.orgId, connection_id: event.connectionId, is_deleted: false })
      .update({
        is_active: false,
        retired_at: trx.raw('coalesce(retired_at, now())'),
        discard_requested_at: trx.raw('coalesce(discard_requested_at, now())'),
        updated_at: trx.fn.now(),
      })
      .returning(['id', 'vendor', 'discard_id'])) as {
      id: string;
      vendor: string;
      discard_id: string | null;
    }[];
  });
  // Under the connection's id; any a replace already handed over keep their own discard.
  return discardsOf(marked, {
    connectionId: event.connectionId,
    orgId: event.orgId,
  }).map((d) => ({ ...d, abandoned: true }));
}

/** Consumes `integrations.connection.abandoned`; a failure (database down) is redelivered later. */
export function consumeAbandonedConnects(deps: {
  nc: NatsConnection;
  orm: MikroORM;
  logger: Logger;
  discarder: Pick<TokenDiscarder, 'finishOrLeave'>;
}): Promise<TConsumerHandle> {
  return consumeDurable(deps.nc, {
    stream: 'INTEGRATIONS',
    durable: ABANDONED_CONNECTS_DURABLE,
    subjects: ['integrations.connection.abandoned'],
    logger: deps.logger,
    batch: 64,
    handler: async (event, { ctx }) => {
      const discards = await closeAbandonedConnection(deps.orm, event);
      // Past the commit the discards are the vault's: a failure here is the sweep's to finish, not a redelivery.
      const destroyed = (
        await Promise.all(discards.map((d) => deps.discarder.finishOrLeave(d, ctx)))
      ).reduce<number>((n, k) => n + (k ?? 0), 0);
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
