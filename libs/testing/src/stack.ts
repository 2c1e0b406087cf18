import { randomBytes } from 'node:crypto';
import { spawnTs, type TChild } from './child-process';
import { freePort } from './ports';
import { waitFor } from './wait-for';

export const SERVICE_ENTRIES = {
  'credential-vault': 'apps/credential-vault/src/main.ts',
  connection: 'apps/connection/src/main.ts',
  'sync-scheduler': 'apps/sync-scheduler/src/main.ts',
  audit: 'apps/audit/src/main.ts',
  edge: 'apps/edge/src/main.ts',
} as const;
export type TStackService = keyof typeof SERVICE_ENTRIES;

export interface TStackOptions {
  /** URL of each service's own role (`db.urlFor(service)` in tests). */
  databaseUrlFor: (service: TStackService) => string;
  /**
   * URL of the role that runs a service's migrations, when it is not the service's own role (audit:
   * `db.migrationsUrlFor('audit')`); passed as MIGRATIONS_DATABASE_URL. Unset: the service derives it.
   */
  migrationsDatabaseUrlFor?: (service: TStackService) => string | undefined;
  natsUrl: string;
  providersFile?: string;
  vaultMasterKey?: string;
  edgePort?: number;
  dashboardUrl?: string;
  logLevel?: string;
  /** Extra env per service (NATS credentials…). */
  envFor?: (service: TStackService) => Record<string, string>;
  /** Live output of each process (npm start streams it to the terminal). */
  onOutput?: (service: TStackService, chunk: string) => void;
}

export interface TStackProcess {
  service: TStackService;
  child: TChild;
  healthUrl: string;
}

export interface TStack {
  edgeUrl: string;
  processes: Map<TStackService, TStackProcess>;
  vaultMasterKey: string;
  /** Start (again) one service and wait until it is ready. */
  start(service: TStackService): Promise<TStackProcess>;
  /** SIGKILL (crash) or SIGTERM (graceful) one service. */
  kill(service: TStackService, signal?: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
  /** Everything a service printed (for assertions on logs). */
  output(service: TStackService): string;
}

export function randomMasterKey(keyId = 'k1'): string {
  return `${keyId}:${randomBytes(32).toString('base64')}`;
}

/**
 * The whole backend as separate processes (each app's own main.ts, as operators deploy them), on the given
 * databases and NATS. Waits for every /readyz before returning.
 */
export async function startStack(
  opts: TStackOptions,
  services: TStackService[] = Object.keys(SERVICE_ENTRIES) as TStackService[],
): Promise<TStack> {
  const vaultMasterKey = opts.vaultMasterKey ?? randomMasterKey();
  const edgePort = opts.edgePort ?? (await freePort());
  const processes = new Map<TStackService, TStackProcess>();
  const logs = new Map<TStackService, string>();

  const start = async (service: TStackService): Promise<TStackProcess> => {
    const port = service === 'edge' ? edgePort : await freePort();
    const migrationsUrl = opts.migrationsDatabaseUrlFor?.(service);
    const env: Record<string, string> = {
      DATABASE_URL: opts.databaseUrlFor(service),
      ...(migrationsUrl ? { MIGRATIONS_DATABASE_URL: migrationsUrl } : {}),
      NATS_URL: opts.natsUrl,
      LOG_LEVEL: opts.logLevel ?? 'warn',
      ...(service === 'edge'
        ? { EDGE_PORT: String(port), DASHBOARD_URL: opts.dashboardUrl ?? 'http://127.0.0.1:5173' }
        : { HEALTH_PORT: String(port) }),
      ...(opts.providersFile ? { PROVIDERS_FILE: opts.providersFile } : {}),
      ...(service === 'credential-vault' ? { VAULT_MASTER_KEY: vaultMasterKey } : {}),
      ...opts.envFor?.(service),
    };
    const child = spawnTs(
      SERVICE_ENTRIES[service],
      env,
      [],
      opts.onOutput ? (c) => opts.onOutput?.(service, c) : undefined,
    );
    const healthUrl = `http://127.0.0.1:${port}/readyz`;
    const proc = { service, child, healthUrl };
    processes.set(service, proc);
    try {
      await waitFor(
        async () => {
          if (child.proc.exitCode !== null)
            throw new Error(`${service} exited:\n${child.output()}`);
          const r = await fetch(healthUrl).catch(() => undefined);
          return r?.ok === true;
        },
        { timeoutMs: 30_000, intervalMs: 100, what: `${service} ready` },
      );
    } catch (e) {
      await child.kill('SIGKILL');
      throw new Error(`${service} did not start: ${(e as Error).message}\n${child.output()}`);
    }
    return proc;
  };

  const kill = async (
    service: TStackService,
    signal: NodeJS.Signals = 'SIGKILL',
  ): Promise<void> => {
    const p = processes.get(service);
    if (!p) return;
    await p.child.kill(signal);
    logs.set(service, (logs.get(service) ?? '') + p.child.output());
    processes.delete(service);
  };

  const others = services.filter((s) => s !== 'edge');
  try {
    await Promise.all(others.map(start));
    if (services.includes('edge')) await start('edge');
  } catch (e) {
    await Promise.all([...processes.keys()].map((s) => kill(s)));
    throw e;
  }

  return {
    edgeUrl: `http://127.0.0.1:${edgePort}`,
    processes,
    vaultMasterKey,
    start,
    kill,
    output: (service) => (logs.get(service) ?? '') + (processes.get(service)?.child.output() ?? ''),
    stop: async () => {
      await Promise.all([...processes.keys()].map((s) => kill(s, 'SIGTERM')));
    },
  };
}
