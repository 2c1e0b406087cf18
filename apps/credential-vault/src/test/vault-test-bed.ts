import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { NatsConnection } from 'nats';
import { AppError } from '@otesse/contracts';
import { createLogger } from '@otesse/logging';
import { Bus, connectNats } from '@otesse/messaging';
import { loadCatalogue, type Catalogue } from '@otesse/providers';
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
import type { TMasterKey } from '../crypto/master-keys';

export const masterKey = (keyId: string): TMasterKey => ({ keyId, key: randomBytes(32) });

/**
 * The vault as its tests meet it: a fresh database, a private nats-server, the vault started in-process (every log
 * line it writes kept, to check no secret reaches one) and a bus to talk to it.
 */
export interface TVaultBed {
  db: TTestDatabase;
  nats: TTestNats;
  nc: NatsConnection;
  bus: Bus;
  logLines: string[];
  /** The running vault (replaced by `restart`). */
  vault(): TRunningService;
  /** Stops the vault (if running) and starts it again with this key ring (key rotation, a lost key…). */
  restart(masterKeys: TMasterKey[]): Promise<void>;
  /** Stops the vault until the next `restart` (a vault that is down). */
  stopVault(): Promise<void>;
  close(): Promise<void>;
}

export async function startVaultBed(
  name: string,
  opts: { catalogue?: Catalogue; logLevel?: 'debug' | 'trace'; masterKeys?: TMasterKey[] } = {},
): Promise<TVaultBed> {
  const [db, nats] = await Promise.all([createTestDatabase(), startNatsServer()]);
  const logLines: string[] = [];
  const logger = createLogger({
    name: `vault-${name}-test`,
    level: opts.logLevel ?? 'debug',
    destination: { write: (line: string) => void logLines.push(line) },
  });
  let vault: TRunningService | undefined;
  const stopVault = async (): Promise<void> => {
    await vault?.stop();
    vault = undefined;
  };
  const restart = async (masterKeys: TMasterKey[]): Promise<void> => {
    await stopVault();
    vault = await startCredentialVault({
      databaseUrl: db.urlFor('credential-vault'),
      natsUrl: nats.url,
      masterKeys,
      ...(opts.catalogue ? { catalogue: opts.catalogue } : {}),
      logger,
    });
    // Its endpoints are subscribed locally once it returns; the PING/PONG makes sure the server has them.
    await vault.deps.nc.flush();
  };
  await restart(opts.masterKeys ?? [masterKey('k1')]);
  const nc = await connectNats({ url: nats.url, name: 'test' });
  return {
    db,
    nats,
    nc,
    bus: new Bus(nc, { timeoutMs: 8_000 }),
    logLines,
    vault: () => vault!,
    restart,
    stopVault,
    close: async () => {
      await stopVault();
      await nc.close();
      await nats.stop();
      await db.drop();
    },
  };
}

/** The vault bed with the fake provider over HTTP and a catalogue pointing at it (revocation, refresh, swap). */
export interface TVaultTestBed extends TVaultBed {
  fake: TFakeProvider;
  providersFile: string;
}

export async function startVaultTestBed(name: string): Promise<TVaultTestBed> {
  const fake = await startFakeProvider({ port: 0 });
  const dir = mkdtempSync(join(tmpdir(), `otesse-${name}-`));
  const providersFile = writeFakeProvidersFile(fake.url, join(dir, 'providers.json'));
  const bed = await startVaultBed(name, {
    catalogue: loadCatalogue({ providersFile, env: {} }),
  });
  return {
    ...bed,
    fake,
    providersFile,
    close: async () => {
      await bed.close();
      await fake.close();
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
