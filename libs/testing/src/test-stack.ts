import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startFakeProvider,
  writeFakeProvidersFile,
  type TFakeProvider,
} from '@otesse/fake-provider';
import { startStack, type TStack, type TStackOptions, type TStackService } from './stack';
import { createTestDatabase, type TTestDatabase } from './test-database';
import { startNatsServer, type TTestNats } from './nats-server';

export interface TTestBackendOptions {
  /** Name prefix of the fresh database (`createTestDatabase`). */
  databasePrefix?: string | undefined;
  /** Runs NATS with this config (users, permissions). */
  natsConfigFile?: string | undefined;
  /** Prefix of the temporary folder that holds the providers file. */
  tmpPrefix?: string | undefined;
  /** The fresh database on this server (a `startPrivatePostgres`'s admin URL) instead of the shared one. */
  postgresAdminUrl?: string | undefined;
  /** nats-server's extra environment and the readiness check's TLS (`startNatsServer`). */
  natsEnv?: Record<string, string> | undefined;
  natsClientTls?: { caFile: string; certFile?: string; keyFile?: string } | undefined;
}

/** What every service process needs of the backend: pass it on to `startStack`. */
export type TBackendStackOptions = Pick<
  TStackOptions,
  'databaseUrlFor' | 'natsUrl' | 'providersFile'
>;

export interface TTestBackend {
  db: TTestDatabase;
  nats: TTestNats;
  fake: TFakeProvider;
  /** Points every provider at the fake provider. */
  providersFile: string;
  stackOptions: TBackendStackOptions;
  /** Stops the fake provider and NATS, drops the database and removes the temporary folder. */
  close(): Promise<void>;
}

export interface TTestStack extends TTestBackend {
  stack: TStack;
  /** Stops the stack, then the backend. */
  close(): Promise<void>;
}

/**
 * What the service processes run against, as every end-to-end harness starts it (the harnesses shared this
 * preamble): a fresh database, a private NATS, the fake OAuth provider and a providers file pointing at it. If a
 * part fails to start, the parts that did are stopped again.
 */
export async function startTestBackend(opts: TTestBackendOptions = {}): Promise<TTestBackend> {
  const [db, nats, fake] = await Promise.allSettled([
    createTestDatabase(opts.databasePrefix, opts.postgresAdminUrl),
    startNatsServer({
      ...(opts.natsConfigFile ? { configFile: opts.natsConfigFile } : {}),
      ...(opts.natsEnv ? { env: opts.natsEnv } : {}),
      ...(opts.natsClientTls ? { clientTls: opts.natsClientTls } : {}),
    }),
    startFakeProvider({ port: 0 }),
  ]);
  const stopAll = async (): Promise<void> => {
    if (fake.status === 'fulfilled') await fake.value.close();
    if (nats.status === 'fulfilled') await nats.value.stop();
    if (db.status === 'fulfilled') await db.value.drop();
  };
  if (db.status === 'rejected' || nats.status === 'rejected' || fake.status === 'rejected') {
    await stopAll().catch(() => undefined);
    throw [db, nats, fake].find((s) => s.status === 'rejected')?.reason;
  }
  const dir = mkdtempSync(join(tmpdir(), opts.tmpPrefix ?? 'otesse-test-'));
  const providersFile = writeFakeProvidersFile(fake.value.url, join(dir, 'providers.json'));
  return {
    db: db.value,
    nats: nats.value,
    fake: fake.value,
    providersFile,
    stackOptions: {
      databaseUrlFor: (s) => db.value.urlFor(s),
      natsUrl: nats.value.url,
      providersFile,
    },
    close: async () => {
      await stopAll();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * `startTestBackend`, then the service processes on it (`startStack`, with `stack` for the rest of its
 * options); a stack that fails to start takes the backend down with it.
 */
export async function startTestStack(
  opts: TTestBackendOptions & {
    stack?: Omit<TStackOptions, keyof TBackendStackOptions>;
    services?: TStackService[] | undefined;
    /** A service's database URL as its process gets it (through a `startTcpProxy`, say). */
    rewriteDatabaseUrl?: ((service: TStackService, url: string) => string) | undefined;
  } = {},
): Promise<TTestStack> {
  const backend = await startTestBackend(opts);
  const rewrite = opts.rewriteDatabaseUrl;
  const backendOptions: TBackendStackOptions = rewrite
    ? {
        ...backend.stackOptions,
        databaseUrlFor: (s) => rewrite(s, backend.stackOptions.databaseUrlFor(s)),
      }
    : backend.stackOptions;
  let stack: TStack;
  try {
    stack = await startStack({ ...backendOptions, ...opts.stack }, opts.services);
  } catch (e) {
    await backend.close().catch(() => undefined);
    throw e;
  }
  return {
    ...backend,
    stack,
    close: async () => {
      await stack.stop();
      await backend.close();
    },
  };
}
