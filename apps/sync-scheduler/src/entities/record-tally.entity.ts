import { EntitySchema } from '@mikro-orm/core';
import { SYNC_RESOURCES, type TSyncResource } from '@otesse/contracts';

/**
 * How many local records an instance holds per resource, kept by statement triggers on `synced_record` (inserts
 * and deletes; an upsert that updates a record does not change the count). The jobs panel reads its record counts
 * here instead of counting the instance's records on every refresh.
 */
export interface RecordTally {
  instanceId: string;
  resource: TSyncResource;
  orgId: string;
  records: number;
}

export const RecordTallySchema = new EntitySchema<RecordTally>({
  name: 'RecordTally',
  tableName: 'record_tally',
  properties: {
    instanceId: { type: 'uuid', primary: true },
    resource: { enum: true, items: () => [...SYNC_RESOURCES], length: 16, primary: true } as never,
    orgId: { type: 'uuid' },
    records: { type: 'integer', columnType: 'bigint', fieldName: 'records_count' },
  },
});
