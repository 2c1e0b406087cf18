import { accessSync, constants } from 'node:fs';
import { z } from 'zod';
import { EnvError } from './env';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/otesse';
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
/** The ORM pool's size when DATABASE_POOL_MAX is unset (libs/persistence's default too). */
export const DEFAULT_DATABASE_POOL_MAX = 10;

/** A path this process can read now: a missing certificate stops the start, not the first reconnect. */
const ZReadableFile = z
  .string()
  .trim()
  .min(1)
  .refine(
    (path) => {
      try {
        accessSync(path, constants.R_OK);
        return true;
      } catch {
        return false;
      }
    },
    { message: 'cannot be read by this process' },
  );

/** A readable file's path, or unset; empty is unset (compose's `${VAR:-}`). */
export const ZOptionalFile = z.preprocess(
  (v) => (v === '' ? undefined : v),
  ZReadableFile.optional(),
);

export const ZLogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** Variables every service shares: where Postgres and NATS are, and how loud to log. */
/** A Postgres URL (`postgres://` or `postgresql://`): a typo in the scheme is refused at start, not at first use. */
export const ZDatabaseUrl = z.url({ protocol: /^postgres(ql)?$/ });

export const ZServiceEnv = z.object({
  DATABASE_URL: ZDatabaseUrl.default(DEFAULT_DATABASE_URL),
  NATS_URL: z.string().min(1).default(DEFAULT_NATS_URL),
  NATS_USER: z.string().optional(),
  NATS_PASSWORD: z.string().optional(),
  /**
   * TLS to NATS (ARCHITECTURE.md, "Encryption in transit"). Any of these makes it required: the process refuses a
   * server that does not offer it. `NATS_TLS=true` alone trusts the system's CAs; `NATS_TLS_CA_FILE` (PEM) trusts
   * that CA instead; `NATS_TLS_CERT_FILE` + `NATS_TLS_KEY_FILE` present a client certificate (for a server with
   * `verify: true`).
   */
  NATS_TLS: z.enum(['true', 'false']).optional(),
  NATS_TLS_CA_FILE: ZOptionalFile,
  NATS_TLS_CERT_FILE: ZOptionalFile,
  NATS_TLS_KEY_FILE: ZOptionalFile,
  /** JetStream replicas of the streams a service creates (3 on a 3-node cluster). */
  NATS_STREAM_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  LOG_LEVEL: ZLogLevel.default('info'),
  /** Where the service answers /healthz, /readyz and /metrics; 0 = pick a free port, unset = none. */
  HEALTH_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /**
   * The interface of that server. Loopback by default (the container's own HEALTHCHECK reaches it); the images
   * set `0.0.0.0` so Prometheus and an orchestrator's probes reach it from outside the container. The edge
   * serves these on EDGE_HOST:EDGE_PORT instead.
   */
  HEALTH_HOST: z.string().trim().min(1).default('127.0.0.1'),
  /**
   * Most Postgres connections this process opens (its ORM pool). Mind the server's max_connections: the sum
   * over every process (replicas included) must stay below it (docs/RELIABILITY.md, "Scaling out"). At least 2:
   * the migrations hold one connection for their advisory lock while the migrator takes another (with 1 every start
   * hung for a minute, then failed).
   */
  DATABASE_POOL_MAX: z.coerce.number().int().min(2).max(200).default(DEFAULT_DATABASE_POOL_MAX),
  SERVICE_INSTANCE_ID: z.string().optional(),
  /**
   * Whether a start runs the schema's pending migrations (the default). `false` when a deploy step runs
   * `node main.mjs migrate` first (a Kubernetes Job, an init container): a start then only checks that this build's
   * migrations are applied and refuses to serve (`migrations_pending`) on a schema behind it.
   */
  MIGRATE_ON_START: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
});
export type TServiceEnv = z.infer<typeof ZServiceEnv>;

/** TLS to NATS as `connectNats` takes it (`@otesse/messaging`'s TNatsTls): the files' paths. */
export interface TNatsTlsFiles {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/**
 * What the NATS_TLS* variables ask for: undefined is plaintext. Throws an EnvError naming the variables when they
 * contradict each other (a check across fields: apps extend ZServiceEnv, which a refined object cannot be).
 */
export function natsTlsOf(
  env: Pick<
    TServiceEnv,
    'NATS_TLS' | 'NATS_TLS_CA_FILE' | 'NATS_TLS_CERT_FILE' | 'NATS_TLS_KEY_FILE'
  >,
): TNatsTlsFiles | undefined {
  const issues = [
    pairIssue(env, 'NATS_TLS_CERT_FILE', 'NATS_TLS_KEY_FILE'),
    env.NATS_TLS === 'false' &&
    (env.NATS_TLS_CA_FILE || env.NATS_TLS_CERT_FILE || env.NATS_TLS_KEY_FILE)
      ? {
          path: 'NATS_TLS',
          message: 'NATS_TLS=false with NATS_TLS_* files set: say which one is meant',
        }
      : undefined,
  ];
  throwEnvIssues('NATS TLS', issues);
  const files: TNatsTlsFiles = {
    ...(env.NATS_TLS_CA_FILE ? { caFile: env.NATS_TLS_CA_FILE } : {}),
    ...(env.NATS_TLS_CERT_FILE ? { certFile: env.NATS_TLS_CERT_FILE } : {}),
    ...(env.NATS_TLS_KEY_FILE ? { keyFile: env.NATS_TLS_KEY_FILE } : {}),
  };
  return env.NATS_TLS === 'true' || Object.keys(files).length > 0 ? files : undefined;
}

/** An issue when one of two variables naming a certificate and its key is set without the other. */
export function pairIssue<K extends string>(
  env: Partial<Record<K, string | undefined>>,
  certVar: K,
  keyVar: K,
): { path: string; message: string } | undefined {
  if (Boolean(env[certVar]) === Boolean(env[keyVar])) return undefined;
  return {
    path: env[certVar] ? keyVar : certVar,
    message: `${certVar} and ${keyVar} go together (a certificate and its key)`,
  };
}

/** Throws an EnvError for the issues found after parsing (checks across variables), if any. */
export function throwEnvIssues(
  app: string,
  issues: readonly ({ path: string; message: string } | undefined)[],
): void {
  const found = issues.filter((i) => i !== undefined);
  if (found.length === 0) return;
  throw new EnvError(
    app,
    found.map((i) => ({ code: 'custom', path: [i.path], message: i.message, input: undefined })),
  );
}

/**
 * The services that dedupe commands (vault, connection, sync-scheduler): how long they keep the record of a key
 * that is not a saga's (a connect's clean-up, a refusal's discard), and how often they purge; 0 never. A saga's
 * records stay until the edge releases them (SAGA_RECORD_RETENTION_MS).
 */
export const ZIdempotencyRecordEnv = z.object({
  IDEMPOTENCY_RECORD_RETENTION_MS: z.coerce
    .number()
    .int()
    .min(1_000)
    .max(3_650 * 86_400_000)
    .optional(),
  IDEMPOTENCY_PURGE_INTERVAL_MS: z.coerce.number().int().min(0).max(86_400_000).optional(),
});
export type TIdempotencyRecordEnv = z.infer<typeof ZIdempotencyRecordEnv>;
