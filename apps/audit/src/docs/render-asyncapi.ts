import { resolve } from 'node:path';
import { format, resolveConfig } from 'prettier';
import { buildAsyncApi, toYaml } from './asyncapi';

export const ASYNCAPI_PATH = resolve(import.meta.dirname, '../../../../docs/asyncapi.yaml');

/** The document as committed: generated YAML in the repository's prettier style (`prettier --check .`). */
export async function renderAsyncApi(): Promise<string> {
  const yaml =
    '# Generated from libs/contracts by `npx tsx apps/audit/src/docs/generate-asyncapi.ts`: do not edit.\n' +
    toYaml(buildAsyncApi());
  const config = (await resolveConfig(ASYNCAPI_PATH)) ?? {};
  return format(yaml, { ...config, parser: 'yaml' });
}
