import { EntitySchema } from '@mikro-orm/core';

/**
 * A connection whose connect was abandoned (`integrations.connection.abandoned`): what the vault held for it was
 * destroyed, and no credential may be stored for it any more (`vault.credentials.store` answers CONFLICT
 * `connection_closed`). This closes the race of a connect so slow that the sweep abandoned it while its store was
 * still on the way: the store, serialised with the destroy by the connection's advisory lock, lands before (and is
 * destroyed) or after (and is refused).
 */
export interface ClosedConnection {
  connectionId: string;
  orgId: string;
  reason: string;
  closedAt: Date;
}

export const ClosedConnectionSchema = new EntitySchema<ClosedConnection>({
  name: 'ClosedConnection',
  tableName: 'closed_connection',
  properties: {
    connectionId: { type: 'uuid', primary: true },
    orgId: { type: 'uuid' },
    reason: { type: 'string', length: 200 },
    closedAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});
