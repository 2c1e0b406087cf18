import { EntitySchema } from '@mikro-orm/core';
import { SYNC_RESOURCES, type TSyncResource } from '@otesse/contracts';

export const EXTERNAL_REFERENCE_STATUSES = ['synced', 'stale'] as const;
export type TExternalReferenceStatus = (typeof EXTERNAL_REFERENCE_STATUSES)[number];

/**
 * Links a local record to its provider counterpart. Keyed by instance (not connection), so a reconnection —
 * or another user's connection to the same instance — re-links instead of duplicating. A disconnect makes them
 * `stale` (kept); the next successful sync that covers them (their connection's slot, or one that returns them)
 * makes them `synced` again.
 *
 * `synced | stale` is derived, never stored: a reference is stale when a stale mark of its scope (a disconnect)
 * is at or after its `lastSyncedAt` and after the last complete sync of its resource by its connection or a
 * successor of it (reference-restore.entity.ts).
 * Read it through the view `sync.external_reference_state` (migration `derived_stale`): a disconnect then costs
 * one mark row however many references the instance has, and nobody can read a half-applied mark.
 */
export interface ExternalReference {
  id: string;
  orgId: string;
  instanceId: string;
  /** The connection that synced it last. */
  connectionId: string;
  resource: TSyncResource;
  externalId: string;
  localRecordId: string;
  lastSyncedAt: Date;
}

export const ExternalReferenceSchema = new EntitySchema<ExternalReference>({
  name: 'ExternalReference',
  tableName: 'external_reference',
  indexes: [
    // Counts of synced / stale references by scope read this index only (see the view); org_id rides along so
    // the org check needs no heap access either.
    {
      name: 'external_reference_scope_idx',
      expression: `create index "external_reference_scope_idx" on "external_reference" ("instance_id", "connection_id", "resource", "last_synced_at") include ("org_id")`,
    },
  ],
  uniques: [
    {
      name: 'external_reference_instance_resource_external_unique',
      properties: ['instanceId', 'resource', 'externalId'],
    },
  ],
  properties: {
    id: { type: 'uuid', primary: true, defaultRaw: 'gen_random_uuid()' },
    orgId: { type: 'uuid' },
    instanceId: { type: 'uuid' },
    connectionId: { type: 'uuid' },
    resource: { enum: true, items: () => [...SYNC_RESOURCES], length: 16 } as never,
    externalId: { type: 'string', length: 300 },
    // Not a foreign key: local records may later live outside this schema (invoices, contacts modules).
    localRecordId: { type: 'uuid' },
    lastSyncedAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});
