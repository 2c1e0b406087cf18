import { EntitySchema } from '@mikro-orm/core';
import { SYNC_RESOURCES, type TSyncResource } from '@otesse/contracts';

/** localField ← remoteField for one resource of one instance; shared by every connection of the instance. */
export interface FieldMapping {
  id: string;
  orgId: string;
  instanceId: string;
  resource: TSyncResource;
  localField: string;
  remoteField: string;
  createdAt: Date;
  updatedAt: Date;
}

export const FieldMappingSchema = new EntitySchema<FieldMapping>({
  name: 'FieldMapping',
  tableName: 'field_mapping',
  uniques: [
    {
      name: 'field_mapping_instance_resource_local_unique',
      properties: ['instanceId', 'resource', 'localField'],
    },
  ],
  properties: {
    id: { type: 'uuid', primary: true, defaultRaw: 'gen_random_uuid()' },
    orgId: { type: 'uuid' },
    instanceId: { type: 'uuid' },
    resource: { enum: true, items: () => [...SYNC_RESOURCES], length: 16 } as never,
    localField: { type: 'string', length: 200 },
    remoteField: { type: 'string', length: 200 },
    createdAt: { type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' },
  },
});
