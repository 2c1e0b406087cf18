import { randomBytes } from 'node:crypto';
import type { NatsConnection } from 'nats';
import { createLogger } from '@otesse/logging';
import { Bus, connectNats } from '@otesse/messaging';
import { loadCatalogue, type Catalogue } from '@otesse/providers';
import type { TFakeProvider } from '@otesse/fake-provider';
import { startTestBackend, type TTestDatabase, type TTestNats } from '@otesse/testing';
import type { TRunningService } from '@otesse/runtime';
import { startCredentialVault } from '../credential-vault.service';
import type { TMasterKey } from '../crypto/master-keys';
import type { TDiscardSettings } from '../discard/token-discarder';

export const masterKey = (keyId: string): TMasterKey => ({ keyId, key: randomBytes(32) });

/**
 * The vault as its tests meet it: a fresh database, a private nats-server, the vault started in-process (every log
 * line it writes kept, to check no secret reaches one) and a bus to talk to it.
 */
export interface TVaultBed {
  db: TTestDatabase;
  nats: TTestNats;
  /** The fake OAuth provider, and the providers file pointing every provider at it. */
  fake: TFakeProvider;
  providersFile: string;
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
  opts: {
    /** The vault's catalogue: its own, or (`'fake-provider'`) the one pointing at the bed's fake provider. */
    catalogue?: Catalogue | 'fake-provider';
    logLevel?: 'debug' | 'trace';
    masterKeys?: TMasterKey[];
    /** The discard sweep's timing (`vault.tokens.discard`). */
    discard?: Partial<TDiscardSettings>;
  } = {},
): Promise<TVaultBed> {
  const backend = await startTestBackend({ tmpPrefix: `otesse-${name}-` });
  const { db, nats } = backend;
  const catalogue =
    opts.catalogue === 'fake-provider'
      ? loadCatalogue({ providersFile: backend.providersFile, env: {} })
      : opts.catalogue;
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
      ...(catalogue ? { catalogue } : {}),
      ...(opts.discard ? { discard: opts.discard } : {}),
      logger,
    });
    // Its endpoints are subscribed locally once it returns; the PING/PONG makes sure the server has them.
    await vault.deps.nc.flush();
  };
  try {
    await restart(opts.masterKeys ?? [masterKey('k1')]);
  } catch (e) {
    await backend.close();
    throw e;
  }
  const nc = await connectNats({ url: nats.url, name: 'test' });
  return {
    db,
    nats,
    fake: backend.fake,
    providersFile: backend.providersFile,
    nc,
    bus: new Bus(nc, { timeoutMs: 8_000 }),
    logLines,
    vault: () => vault!,
    restart,
    stopVault,
    close: async () => {
      await stopVault();
      await nc.close();
      await backend.close();
    },
  };
}

/** The vault bed whose catalogue points at its fake provider (revocation, refresh, swap). */
export type TVaultTestBed = TVaultBed;

export function startVaultTestBed(
  name: string,
  opts: { discard?: Partial<TDiscardSettings> } = {},
): Promise<TVaultTestBed> {
  return startVaultBed(name, { catalogue: 'fake-provider', ...opts });
}
