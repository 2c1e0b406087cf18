import { EntitySchema } from '@mikro-orm/core';

/**
 * "This connection took over that one's slot": a reconnection (a new connection of the same instance and slot — the
 * same user's, or the app-level one) adopts the jobs of the slot's last revoked connection, and with them the
 * references those connections synced last. One row per ancestor (the closure, written when the jobs are adopted),
 * so a sync's restore and a disconnect's mark reach every earlier connection of the slot in one indexed read,
 * without re-linking a single reference.
 */
export interface ConnectionLineage {
  connectionId: string;
  ancestorId: string;
  orgId: string;
  instanceId: string;
  createdAt: Date;
}

export const ConnectionLineageSchema = new EntitySchema<ConnectionLineage>({
  name: 'ConnectionLineage',
  tableName: 'connection_lineage',
  properties: {
    connectionId: { type: 'uuid', primary: true },
    ancestorId: { type: 'uuid', primary: true },
    orgId: { type: 'uuid' },
    instanceId: { type: 'uuid' },
    createdAt: { type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' },
  },
});
