import { resolve } from 'node:path';
import type { TOrmConfig } from '@otesse/persistence';
import { SERVICE_SCHEMAS } from '@otesse/persistence';
import { entities } from '../entities';
import { migrations } from '../migrations';

export const EDGE_SCHEMA = SERVICE_SCHEMAS.edge;
export const MIGRATIONS_PATH = resolve(import.meta.dirname, '../migrations');

export function edgeOrmConfig(url: string): TOrmConfig {
  return { url, schema: EDGE_SCHEMA.schema, entities, migrations };
}
