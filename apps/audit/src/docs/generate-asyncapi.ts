// Usage: npx tsx apps/audit/src/docs/generate-asyncapi.ts   (rewrites docs/asyncapi.yaml from libs/contracts)
import { writeFileSync } from 'node:fs';
import { ASYNCAPI_PATH, renderAsyncApi } from './render-asyncapi';

writeFileSync(ASYNCAPI_PATH, await renderAsyncApi());
console.log(`wrote ${ASYNCAPI_PATH}`);
