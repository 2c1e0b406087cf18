import { resolve } from 'node:path';
import type { TOrmConfig } from '@otesse/persistence';
import { SERVICE_SCHEMAS } from '@otesse/persistence';
import { entities } from '../entities';
import { migrations } from '../migrations';

export const SYNC_SCHEMA = SERVICE_SCHEMAS['sync-scheduler'];
export const MIGRATIONS_PATH = resolve(import.meta.dirname, '../migrations');

export function syncSchedulerOrmConfig(url: string): TOrmConfig {
  return { url, schema: SYNC_SCHEMA.schema, entities, migrations };
}
