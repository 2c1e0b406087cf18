import { EntitySchema } from '@mikro-orm/core';
import { SYNC_RESOURCES, type TSyncResource } from '@otesse/contracts';

/**
 * When a resource of an instance last synced completely (an execution succeeded): every reference of it that a
 * stale mark older than this covered is current again (seed: stale references are "updated to synced after the
 * next successful sync"), whether or not the provider returned it. One row per instance and resource, moved
 * forward by each successful sync.
 */
export interface ReferenceRestore {
  instanceId: string;
  resource: TSyncResource;
  orgId: string;
  restoredAt: Date;
}

export const ReferenceRestoreSchema = new EntitySchema<ReferenceRestore>({
  name: 'ReferenceRestore',
  tableName: 'reference_restore',
  properties: {
    instanceId: { type: 'uuid', primary: true },
    resource: { enum: true, items: () => [...SYNC_RESOURCES], length: 16, primary: true } as never,
    orgId: { type: 'uuid' },
    restoredAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});
