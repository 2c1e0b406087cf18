import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

// Resolve the workspace aliases from tsconfig.base.json so tests import libs exactly as apps do.
const base = JSON.parse(
  readFileSync(resolve(import.meta.dirname, 'tsconfig.base.json'), 'utf8'),
) as {
  compilerOptions: { paths: Record<string, string[]> };
};
const alias = Object.fromEntries(
  Object.entries(base.compilerOptions.paths).map(([name, [target]]) => [
    name,
    resolve(import.meta.dirname, target ?? ''),
  ]),
);

export default defineConfig({
  resolve: { alias },
  test: {
    include: ['{apps,libs,tools}/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'apps/dashboard/e2e/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
