import { resolve } from 'node:path';
import type { TOrmConfig } from '@otesse/persistence';
import { SERVICE_SCHEMAS } from '@otesse/persistence';
import { entities } from '../entities';
import { migrations } from '../migrations';

export const CONNECTION_SCHEMA = SERVICE_SCHEMAS.connection;
export const MIGRATIONS_PATH = resolve(import.meta.dirname, '../migrations');

export function connectionOrmConfig(url: string): TOrmConfig {
  return { url, schema: CONNECTION_SCHEMA.schema, entities, migrations };
}
