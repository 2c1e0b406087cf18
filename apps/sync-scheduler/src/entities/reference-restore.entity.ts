import { EntitySchema } from '@mikro-orm/core';
import { SYNC_RESOURCES, type TSyncResource } from '@otesse/contracts';

/**
 * When the references of a resource that a connection synced last were last covered by a complete sync (an
 * execution succeeded) of that connection or of one that took over its slot (connection-lineage.entity.ts): each
 * such reference that a stale mark older than this covered is current again (seed: stale references are "updated
 * to synced after the next successful sync"), whether or not the provider returned it. Another user's sync of the
 * instance covers only its own references: "disconnecting your connection does not affect theirs" — nor does their
 * sync claim that yours are current. One row per instance, connection and resource, moved forward by each
 * successful sync of the connection or of its successors.
 */
export interface ReferenceRestore {
  instanceId: string;
  /** The connection the covered references name as the one that synced them last. */
  connectionId: string;
  resource: TSyncResource;
  orgId: string;
  restoredAt: Date;
}

export const ReferenceRestoreSchema = new EntitySchema<ReferenceRestore>({
  name: 'ReferenceRestore',
  tableName: 'reference_restore',
  properties: {
    instanceId: { type: 'uuid', primary: true },
    connectionId: { type: 'uuid', primary: true },
    resource: { enum: true, items: () => [...SYNC_RESOURCES], length: 16, primary: true } as never,
    orgId: { type: 'uuid' },
    restoredAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});
