import { resolve } from 'node:path';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const appRoot = import.meta.dirname;
const repoRoot = resolve(appRoot, '../..');

/**
 * The dashboard talks to the edge over tRPC only. `@otesse/edge-api` is imported for its types, so the alias
 * exists for the type-checker and editor tooling; nothing of the backend ends up in the bundle.
 */
export default defineConfig({
  root: appRoot,
  plugins: [react()],
  resolve: {
    alias: { '@otesse/edge-api': resolve(repoRoot, 'apps/edge/src/edge-api.ts') },
  },
  define: {
    // Read once when the dev server (or build) starts: `npm start` passes the edge it just started.
    __EDGE_URL__: JSON.stringify(process.env['EDGE_URL'] ?? 'http://127.0.0.1:3000'),
  },
  // Keep Vite's pre-bundle cache out of the app folder.
  cacheDir: resolve(repoRoot, 'node_modules/.vite/dashboard'),
  // Pre-bundle everything up front: a mid-session "new dependency found, reloading" would lose page state.
  optimizeDeps: {
    include: [
      'react',
      'react/jsx-dev-runtime',
      'react-dom/client',
      '@tanstack/react-query',
      '@trpc/client',
      '@trpc/tanstack-react-query',
    ],
  },
  server: { host: '127.0.0.1', port: 5173 },
  build: { outDir: resolve(repoRoot, 'dist/apps/dashboard'), emptyOutDir: true, sourcemap: true },
  clearScreen: false,
});
