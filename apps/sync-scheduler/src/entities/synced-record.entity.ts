import { EntitySchema } from '@mikro-orm/core';
import { SYNC_RESOURCES, type TSyncResource } from '@otesse/contracts';

/**
 * The local copy of a provider record. Owned by the org and the instance, not by a connection: it survives a
 * disconnect in full (seed: "Synced data (local records): Kept in full"); `sourceConnectionId` only says which
 * connection wrote it last.
 */
export interface SyncedRecord {
  id: string;
  orgId: string;
  instanceId: string;
  resource: TSyncResource;
  externalId: string;
  data: Record<string, unknown>;
  syncedAt: Date;
  sourceConnectionId: string;
}

export const SyncedRecordSchema = new EntitySchema<SyncedRecord>({
  name: 'SyncedRecord',
  tableName: 'synced_record',
  indexes: [{ name: 'synced_record_org_resource_idx', properties: ['orgId', 'resource'] }],
  uniques: [
    {
      name: 'synced_record_instance_resource_external_unique',
      properties: ['instanceId', 'resource', 'externalId'],
    },
  ],
  properties: {
    id: { type: 'uuid', primary: true, defaultRaw: 'gen_random_uuid()' },
    orgId: { type: 'uuid' },
    instanceId: { type: 'uuid' },
    resource: { enum: true, items: () => [...SYNC_RESOURCES], length: 16 } as never,
    externalId: { type: 'string', length: 300 },
    data: { type: 'json' },
    syncedAt: { type: 'datetime', columnType: 'timestamptz' },
    sourceConnectionId: { type: 'uuid' },
  },
});
