import { resolve } from 'node:path';
import { REPO_ROOT } from './child-process';

/**
 * The NATS config tests run: the deployed one (tools/nats/nats-server.conf, a user per service with
 * subject-level permissions) plus the test-only `probe` user (unrestricted) and the template user `billing`.
 * Start nats-server with NATS_DEV_PASSWORD_ENV in its environment.
 */
export const NATS_CONFIG_FILE = resolve(REPO_ROOT, 'tools/nats/test/nats-server.conf');

/**
 * NATS_CONFIG_FILE plus tools/nats/tls.conf: TLS required and client certificates verified. Start nats-server with
 * the certificates' paths in its environment (NATS_TLS_SERVER_CERT_FILE, NATS_TLS_SERVER_KEY_FILE, NATS_TLS_CA_FILE).
 */
export const NATS_TLS_CONFIG_FILE = resolve(REPO_ROOT, 'tools/nats/test/nats-server.tls.conf');

/** Each service's NATS user in that config (development and test passwords). */
export const NATS_DEV_USERS = {
  edge: { user: 'edge', password: 'edge-dev-password' },
  'credential-vault': { user: 'vault', password: 'vault-dev-password' },
  connection: { user: 'connection', password: 'connection-dev-password' },
  'sync-scheduler': { user: 'scheduler', password: 'scheduler-dev-password' },
  audit: { user: 'audit', password: 'audit-dev-password' },
} as const;

/** The people's and other services' users: the operator (vault.keys.rotate), the template `billing`. */
export const NATS_DEV_OTHER_USERS = {
  operator: { user: 'operator', password: 'operator-dev-password' },
  billing: { user: 'billing', password: 'billing-dev-password' },
} as const;

/** The test-only unrestricted user of NATS_CONFIG_FILE (readiness checks, stream inspection). */
export const NATS_PROBE_USER = { user: 'probe', pass: 'probe' } as const;

/**
 * What tools/nats/*.conf read from nats-server's environment (`$NATS_<USER>_PASSWORD`, the cluster's
 * `$NATS_ROUTE_PASSWORD`), with the dev passwords: docker-compose.yml's defaults.
 */
export const NATS_DEV_PASSWORD_ENV: Readonly<Record<string, string>> = {
  NATS_EDGE_PASSWORD: NATS_DEV_USERS.edge.password,
  NATS_VAULT_PASSWORD: NATS_DEV_USERS['credential-vault'].password,
  NATS_CONNECTION_PASSWORD: NATS_DEV_USERS.connection.password,
  NATS_SCHEDULER_PASSWORD: NATS_DEV_USERS['sync-scheduler'].password,
  NATS_AUDIT_PASSWORD: NATS_DEV_USERS.audit.password,
  NATS_OPERATOR_PASSWORD: NATS_DEV_OTHER_USERS.operator.password,
  NATS_BILLING_PASSWORD: NATS_DEV_OTHER_USERS.billing.password,
  NATS_ROUTE_PASSWORD: 'route-dev-password',
};
