import { EntitySchema } from '@mikro-orm/core';

/**
 * A disconnect's "every reference of this scope synced no later than `staleSince` is stale" — one row, written in
 * O(1) by the saga step however many references the scope holds. Nothing rewrites the references: their state is
 * derived from the marks (external-reference.entity.ts). Marks are kept (the history of disconnects).
 * `connectionId` null: the whole instance (its last connection was disconnected).
 */
export interface ReferenceStaleMark {
  id: string;
  orgId: string;
  instanceId: string;
  connectionId: string | null;
  staleSince: Date;
  /** References of the scope that were `synced` when the mark was written (the saga's figure). */
  referencesAtMark: number;
}

export const ReferenceStaleMarkSchema = new EntitySchema<ReferenceStaleMark>({
  name: 'ReferenceStaleMark',
  tableName: 'reference_stale_mark',
  indexes: [
    // The newest mark of a scope: a backward scan of one index entry.
    {
      name: 'reference_stale_mark_scope_idx',
      properties: ['instanceId', 'connectionId', 'staleSince'],
    },
  ],
  properties: {
    id: { type: 'uuid', primary: true, defaultRaw: 'gen_random_uuid()' },
    orgId: { type: 'uuid' },
    instanceId: { type: 'uuid' },
    connectionId: { type: 'uuid', nullable: true },
    staleSince: { type: 'datetime', columnType: 'timestamptz' },
    referencesAtMark: { type: 'integer' },
  },
});
