import { EntitySchema } from '@mikro-orm/core';

/**
 * How many references of an instance each connection synced last, and the newest `lastSyncedAt` among them — kept
 * by triggers on `external_reference` (every writer, set-based or not). The disconnect's mark step answers its
 * count from here in O(1) when no earlier mark covers the scope (the common case) or when one covers all of it,
 * instead of counting 10,000 index entries a disconnect; only a partly covered scope is counted row by row.
 */
export interface ReferenceTally {
  instanceId: string;
  connectionId: string;
  orgId: string;
  references: number;
  /** An upper bound: it only moves forward (a reference re-linked to another connection leaves it as it was). */
  lastSyncedMax: Date;
}

export const ReferenceTallySchema = new EntitySchema<ReferenceTally>({
  name: 'ReferenceTally',
  tableName: 'reference_tally',
  properties: {
    instanceId: { type: 'uuid', primary: true },
    connectionId: { type: 'uuid', primary: true },
    orgId: { type: 'uuid' },
    references: { type: 'integer', fieldName: 'references_count' },
    lastSyncedMax: { type: 'datetime', columnType: 'timestamptz' },
  },
});
