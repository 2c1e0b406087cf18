import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { NatsConnection } from 'nats';
import { AppError } from '@otesse/contracts';
import { createLogger } from '@otesse/logging';
import { Bus, connectNats } from '@otesse/messaging';
import { loadCatalogue } from '@otesse/providers';
import {
  startFakeProvider,
  writeFakeProvidersFile,
  type TFakeProvider,
} from '@otesse/fake-provider';
import {
  createTestDatabase,
  startNatsServer,
  type TTestDatabase,
  type TTestNats,
} from '@otesse/testing';
import type { TRunningService } from '@otesse/runtime';
import { startCredentialVault } from '../credential-vault.service';

/**
 * The vault as its tests meet it: a fresh database, a private nats-server, the fake provider over HTTP with a
 * providers file pointing at it, the vault started in-process (its log lines kept, to check no secret reaches
 * one) and a bus to talk to it.
 */
export interface TVaultTestBed {
  db: TTestDatabase;
  nats: TTestNats;
  fake: TFakeProvider;
  providersFile: string;
  vault: TRunningService;
  nc: NatsConnection;
  bus: Bus;
  /** Every log line the vault wrote (debug level). */
  logLines: string[];
  close(): Promise<void>;
}

export async function startVaultTestBed(name: string): Promise<TVaultTestBed> {
  const [db, nats, fake] = await Promise.all([
    createTestDatabase(),
    startNatsServer(),
    startFakeProvider({ port: 0 }),
  ]);
  const dir = mkdtempSync(join(tmpdir(), `otesse-${name}-`));
  const providersFile = writeFakeProvidersFile(fake.url, join(dir, 'providers.json'));
  const logLines: string[] = [];
  const vault = await startCredentialVault({
    databaseUrl: db.urlFor('credential-vault'),
    natsUrl: nats.url,
    masterKeys: [{ keyId: 'k1', key: randomBytes(32) }],
    catalogue: loadCatalogue({ providersFile, env: {} }),
    logger: createLogger({
      name: `vault-${name}-test`,
      level: 'debug',
      destination: { write: (line: string) => void logLines.push(line) },
    }),
  });
  await vault.deps.nc.flush();
  const nc = await connectNats({ url: nats.url, name: 'test' });
  return {
    db,
    nats,
    fake,
    providersFile,
    vault,
    nc,
    bus: new Bus(nc, { timeoutMs: 8_000 }),
    logLines,
    close: async () => {
      await vault.stop();
      await nc.close();
      await fake.close();
      await nats.stop();
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The AppError a request was refused with (fails the test if it succeeded). */
export const errorOf = (p: Promise<unknown>): Promise<AppError> =>
  p.then(
    () => {
      throw new Error('expected an error reply');
    },
    (e: unknown) => {
      expect(e).toBeInstanceOf(AppError);
      return e as AppError;
    },
  );
