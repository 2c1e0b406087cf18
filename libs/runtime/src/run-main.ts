import type { z } from 'zod';
import {
  EnvError,
  natsTlsOf,
  parseEnv,
  type TIdempotencyRecordEnv,
  type TServiceEnv,
} from '@otesse/config';
import { AppError } from '@otesse/contracts';
import { createLogger, type Logger } from '@otesse/logging';
import { ensureTracing } from '@otesse/telemetry';
import {
  exitWhenNatsLost,
  STOP_SIGNALS,
  stopOnSignals,
  type TIdempotencyRecordSettings,
} from './run-service';

/** What a deployable's `start` returns: how to stop it, and whether its NATS connection was lost for good. */
export interface TRunnable {
  stop(): Promise<void>;
  natsLost: Promise<Error | undefined>;
}

export interface TMain<TEnv extends { LOG_LEVEL: string }> {
  /** The app's name: its logger's, and the one its env errors are reported under. */
  name: string;
  env: z.ZodType<TEnv>;
  /** `main migrate`: exactly the migrations a start runs (every role's), then exit 0. */
  migrate(env: TEnv, logger: Logger): Promise<string[]>;
  start(env: TEnv, logger: Logger): Promise<TRunnable>;
  /** What stops it gracefully (default STOP_SIGNALS), and the bound of that stop (default 15 s). */
  stopSignals?: readonly NodeJS.Signals[];
  stopTimeoutMs?: (env: TEnv) => number;
}

/** The commands every deployable takes: none (serve) or `migrate`. */
export const MAIN_COMMANDS = ['serve', 'migrate'] as const;

/**
 * Reports why a start failed as one fatal JSON line, then exits 1. An environment error names each variable and
 * what is wrong with it (never its value) instead of a stack: the operator's fix is in the deployment, not the code.
 */
export function exitOnStartFailure(logger: Logger, e: unknown): never {
  if (e instanceof EnvError) {
    const variables = e.issues.map((i) => ({
      variable: i.path.join('.') || '(root)',
      problem: i.message,
    }));
    logger.fatal(
      { reason: 'invalid_environment', variables },
      `invalid environment: ${variables.map((v) => `${v.variable}: ${v.problem}`).join('; ')}`,
    );
  } else if (e instanceof AppError) {
    // Named failures (master keys, pending migrations, a refused role…) say all there is; no stack.
    logger.fatal({ code: e.code, reason: e.reason, details: e.details }, e.message);
  } else {
    logger.fatal({ err: e }, (e as Error).message);
  }
  process.exit(1);
}

/**
 * The one way a deployable's main runs: the environment parsed once (errors as a JSON line), tracing, then either
 * `migrate` (a deploy job's step, MIGRATE_ON_START=false on the services) or the service itself, stopped gracefully
 * on a signal and exited when NATS is lost for good.
 */
export async function runMain<TEnv extends { LOG_LEVEL: string }>(
  main: TMain<TEnv>,
  argv: readonly string[] = process.argv.slice(2),
): Promise<void> {
  let env: TEnv;
  try {
    env = parseEnv(main.name, main.env);
  } catch (e) {
    // LOG_LEVEL may be the variable at fault: report at the default level.
    exitOnStartFailure(createLogger({ name: main.name, level: 'info' }), e);
  }
  const logger = createLogger({ name: main.name, level: env.LOG_LEVEL });
  try {
    const command = argv[0] ?? 'serve';
    if (!(MAIN_COMMANDS as readonly string[]).includes(command) || argv.length > 1)
      throw new AppError(
        'BAD_REQUEST',
        `unknown command "${argv.join(' ')}": none (serve) or "migrate"`,
        { reason: 'unknown_command' },
      );
    // Tracing from OTEL_* before anything starts: a bad variable stops the process here, not after migrations.
    ensureTracing();
    if (command === 'migrate') {
      const applied = await main.migrate(env, logger);
      logger.info({ applied }, applied.length ? 'migrations applied' : 'no migration pending');
      process.exit(0);
    }
    const running = await main.start(env, logger);
    stopOnSignals(running.stop, logger, {
      signals: main.stopSignals ?? STOP_SIGNALS,
      ...(main.stopTimeoutMs ? { timeoutMs: main.stopTimeoutMs(env) } : {}),
    });
    exitWhenNatsLost(running.natsLost, logger);
  } catch (e) {
    exitOnStartFailure(logger, e);
  }
}

/**
 * What every service's start takes from the variables they all share (ZServiceEnv): where Postgres and NATS are,
 * how to reach them, health, migrations. A service's main adds its own.
 */
export function serviceConfigFromEnv(env: TServiceEnv, logger: Logger) {
  return {
    databaseUrl: env.DATABASE_URL,
    migrateOnStart: env.MIGRATE_ON_START,
    natsUrl: env.NATS_URL,
    natsUser: env.NATS_USER,
    natsPassword: env.NATS_PASSWORD,
    natsTls: natsTlsOf(env),
    natsStreamReplicas: env.NATS_STREAM_REPLICAS,
    logger,
    healthPort: env.HEALTH_PORT,
    healthHost: env.HEALTH_HOST,
    databasePoolMax: env.DATABASE_POOL_MAX,
  };
}

/** IDEMPOTENCY_RECORD_RETENTION_MS and IDEMPOTENCY_PURGE_INTERVAL_MS, as a deduping service takes them. */
export function idempotencyRecordsFromEnv(env: TIdempotencyRecordEnv): TIdempotencyRecordSettings {
  return {
    retentionMs: env.IDEMPOTENCY_RECORD_RETENTION_MS,
    purgeIntervalMs: env.IDEMPOTENCY_PURGE_INTERVAL_MS,
  };
}
