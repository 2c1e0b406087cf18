import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startFakeProvider,
  writeFakeProvidersFile,
  type TFakeProvider,
} from '@otesse/fake-provider';
import {
  createTestDatabase,
  startNatsServer,
  startStack,
  type TStack,
  type TStackOptions,
  type TTestDatabase,
  type TTestNats,
} from '@otesse/testing';

export interface TBenchStack {
  db: TTestDatabase;
  nats: TTestNats;
  fake: TFakeProvider;
  stack: TStack;
  /** Stops every process and server, drops the database, removes the scratch folder. */
  stop(): Promise<void>;
}

/**
 * The whole stack as processes for a benchmark: a fresh database, a private nats-server, the fake provider and a
 * providers file pointing at it, errors-only logs. `envFor` adds each service's environment.
 */
export async function startBenchStack(envFor?: TStackOptions['envFor']): Promise<TBenchStack> {
  const [db, nats, fake] = await Promise.all([
    createTestDatabase('otesse_bench'),
    startNatsServer(),
    startFakeProvider({ port: 0 }),
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'otesse-bench-'));
  const stack = await startStack({
    databaseUrlFor: (s) => db.urlFor(s),
    natsUrl: nats.url,
    providersFile: writeFakeProvidersFile(fake.url, join(dir, 'providers.json')),
    logLevel: 'error',
    ...(envFor ? { envFor } : {}),
  });
  return {
    db,
    nats,
    fake,
    stack,
    stop: async () => {
      await stack.stop().catch(() => undefined);
      await fake.close().catch(() => undefined);
      await nats.stop().catch(() => undefined);
      await db.drop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
