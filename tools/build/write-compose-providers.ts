// Regenerates tools/fake-provider/providers.compose.json, the PROVIDERS_FILE docker-compose mounts into the edge
// and the vault: every OAuth provider of the catalogue pointed at the `fake-provider` container.
//   npx tsx tools/build/write-compose-providers.ts
import { resolve } from 'node:path';
import { writeFakeProvidersFile } from '@otesse/fake-provider';

export const COMPOSE_FAKE_PROVIDER_URL = 'http://fake-provider:4010';

const out = writeFakeProvidersFile(
  COMPOSE_FAKE_PROVIDER_URL,
  resolve(import.meta.dirname, '../fake-provider/providers.compose.json'),
);
console.log(`wrote ${out}`);
