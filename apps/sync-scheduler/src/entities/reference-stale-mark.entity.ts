import { EntitySchema } from '@mikro-orm/core';

/**
 * A disconnect's "these references are stale from `staleSince` on" — written in O(1) by the saga step, so a
 * disconnect does not hold a transaction over every reference of a large instance. Readers and the sync runner
 * materialize pending marks first (references/stale-marks.ts), so nobody sees a stale reference as `synced`; a
 * background loop materializes the rest within moments. `connectionId` null: the whole instance.
 */
export interface ReferenceStaleMark {
  id: string;
  orgId: string;
  instanceId: string;
  connectionId: string | null;
  staleSince: Date;
  /** References of the scope that were `synced` when the mark was written (the saga's figure). */
  referencesAtMark: number;
  materializedAt: Date | null;
  /** How many rows the materialization turned `stale`. */
  materialized: number | null;
}

export const ReferenceStaleMarkSchema = new EntitySchema<ReferenceStaleMark>({
  name: 'ReferenceStaleMark',
  tableName: 'reference_stale_mark',
  indexes: [
    {
      name: 'reference_stale_mark_pending_idx',
      expression: `create index "reference_stale_mark_pending_idx" on "reference_stale_mark" ("instance_id", "stale_since") where "materialized_at" is null`,
    },
  ],
  properties: {
    id: { type: 'uuid', primary: true, defaultRaw: 'gen_random_uuid()' },
    orgId: { type: 'uuid' },
    instanceId: { type: 'uuid' },
    connectionId: { type: 'uuid', nullable: true },
    staleSince: { type: 'datetime', columnType: 'timestamptz' },
    referencesAtMark: { type: 'integer' },
    materializedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    materialized: { type: 'integer', nullable: true },
  },
});
