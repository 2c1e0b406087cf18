import { z } from 'zod';
import { ZServiceEnv } from '@otesse/config';

export const ZEdgeEnv = ZServiceEnv.extend({
  DATABASE_URL: z.url().default('postgres://otesse_edge@127.0.0.1:5432/otesse'),
  EDGE_HOST: z.string().default('127.0.0.1'),
  EDGE_PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** Where browsers reach the edge (OAuth redirect URIs are built from it). */
  EDGE_PUBLIC_URL: z.url().optional(),
  /** Where the dashboard lives: OAuth results redirect there; CORS allows it. */
  DASHBOARD_URL: z.url().default('http://127.0.0.1:5173'),
  PROVIDERS_FILE: z.string().optional(),
  /** Signs grant's session cookie; every replica needs the same one. Random per process when unset (dev only). */
  OAUTH_SESSION_SECRET: z.string().min(32).optional(),
  SAGA_LEASE_MS: z.coerce.number().int().min(500).default(15_000),
  SAGA_RECOVERY_INTERVAL_MS: z.coerce.number().int().min(0).default(1_000),
});
export type TEdgeEnv = z.infer<typeof ZEdgeEnv>;
