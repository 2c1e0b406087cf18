import { EntitySchema } from '@mikro-orm/core';

/**
 * "This connection's jobs are held disabled by a disconnect": written by the saga's disable step in the same
 * transaction as the jobs, under their row locks, and read by a user's enable under the job's row lock — so an
 * enable whose connection check answered `connected` just before the disconnect cannot turn a job back on
 * afterwards (seed 000: sync job configurations are "kept, disabled"). Cleared by the saga's compensation (the
 * connection stays) and by a reconnection adopting the jobs (they move to the new connection).
 */
export interface ConnectionJobHold {
  connectionId: string;
  orgId: string;
  /** The disconnect saga holding them (its compensation lifts only its own hold). */
  sagaId: string;
  heldAt: Date;
}

export const ConnectionJobHoldSchema = new EntitySchema<ConnectionJobHold>({
  name: 'ConnectionJobHold',
  tableName: 'connection_job_hold',
  properties: {
    connectionId: { type: 'uuid', primary: true },
    orgId: { type: 'uuid' },
    sagaId: { type: 'uuid' },
    heldAt: { type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' },
  },
});
