import { EntitySchema } from '@mikro-orm/core';
import { SYNC_RESOURCES, type TSyncResource } from '@otesse/contracts';

export const EXTERNAL_REFERENCE_STATUSES = ['synced', 'stale'] as const;
export type TExternalReferenceStatus = (typeof EXTERNAL_REFERENCE_STATUSES)[number];

/**
 * Links a local record to its provider counterpart. Keyed by instance (not connection), so a reconnection —
 * or another user's connection to the same instance — re-links instead of duplicating. A disconnect marks
 * them `stale` (kept); the next successful sync marks them `synced` again.
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
  status: TExternalReferenceStatus;
  lastSyncedAt: Date;
  staleSince: Date | null;
}

export const ExternalReferenceSchema = new EntitySchema<ExternalReference>({
  name: 'ExternalReference',
  tableName: 'external_reference',
  indexes: [
    { name: 'external_reference_instance_status_idx', properties: ['instanceId', 'status'] },
    { name: 'external_reference_connection_status_idx', properties: ['connectionId', 'status'] },
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
    status: { enum: true, items: () => [...EXTERNAL_REFERENCE_STATUSES], length: 16 } as never,
    lastSyncedAt: { type: 'datetime', columnType: 'timestamptz' },
    staleSince: { type: 'datetime', columnType: 'timestamptz', nullable: true },
  },
});
