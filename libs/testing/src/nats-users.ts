import { resolve } from 'node:path';
import { REPO_ROOT } from './child-process';

/** The project's NATS server config: a user per service with subject-level permissions. */
export const NATS_CONFIG_FILE = resolve(REPO_ROOT, 'tools/nats/nats-server.conf');

/** Each service's NATS user in that config (development and test passwords). */
export const NATS_DEV_USERS = {
  edge: { user: 'edge', password: 'edge-dev-password' },
  'credential-vault': { user: 'vault', password: 'vault-dev-password' },
  connection: { user: 'connection', password: 'connection-dev-password' },
  'sync-scheduler': { user: 'scheduler', password: 'scheduler-dev-password' },
  audit: { user: 'audit', password: 'audit-dev-password' },
} as const;
