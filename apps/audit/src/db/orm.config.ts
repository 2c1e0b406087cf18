import { resolve } from 'node:path';
import type { TOrmConfig } from '@otesse/persistence';
import { SERVICE_SCHEMAS } from '@otesse/persistence';
import { entities } from '../entities';
import { migrations } from '../migrations';

export const AUDIT_SCHEMA = SERVICE_SCHEMAS.audit;
export const MIGRATIONS_PATH = resolve(import.meta.dirname, '../migrations');

export function auditOrmConfig(url: string): TOrmConfig {
  return { url, schema: AUDIT_SCHEMA.schema, entities, migrations };
}
