import { EntitySchema } from '@mikro-orm/core';

/** The newest link of each org's chain; locked FOR UPDATE while appending so links never fork. */
export interface ChainHead {
  orgId: string;
  seq: number;
  hash: string;
}

export const ChainHeadSchema = new EntitySchema<ChainHead>({
  name: 'ChainHead',
  tableName: 'chain_head',
  properties: {
    orgId: { type: 'uuid', primary: true },
    seq: { type: 'bigint', runtimeType: 'number' } as never,
    hash: { type: 'string', length: 64 },
  },
});
