import { resolve } from 'node:path';
import type { TOrmConfig } from '@otesse/persistence';
import { SERVICE_SCHEMAS } from '@otesse/persistence';
import { entities } from '../entities';
import { migrations } from '../migrations';

export const VAULT_SCHEMA = SERVICE_SCHEMAS['credential-vault'];
export const MIGRATIONS_PATH = resolve(import.meta.dirname, '../migrations');

export function vaultOrmConfig(url: string): TOrmConfig {
  return { url, schema: VAULT_SCHEMA.schema, entities, migrations };
}
