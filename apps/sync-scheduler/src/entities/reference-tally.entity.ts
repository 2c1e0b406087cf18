import { EntitySchema } from '@mikro-orm/core';
import { SYNC_RESOURCES, type TSyncResource } from '@otesse/contracts';

/**
 * How many references of an instance and resource each connection synced last, and the newest `lastSyncedAt` among
 * them — kept by triggers on `external_reference` (every writer, set-based or not). Every count of references by
 * state (`sync.reference_state_counts`: the disconnect's mark step, the jobs panel) is answered from here, one row
 * per connection and resource: all synced when no mark covers the row or its resource's last complete sync came
 * after the mark, all stale when the mark came after all of them. Only a row partly covered (a sync running since
 * the mark) counts references, and only those synced since the mark, by index range.
 */
export interface ReferenceTally {
  instanceId: string;
  connectionId: string;
  resource: TSyncResource;
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
    resource: { enum: true, items: () => [...SYNC_RESOURCES], length: 16, primary: true } as never,
    orgId: { type: 'uuid' },
    references: { type: 'integer', fieldName: 'references_count' },
    lastSyncedMax: { type: 'datetime', columnType: 'timestamptz' },
  },
});
