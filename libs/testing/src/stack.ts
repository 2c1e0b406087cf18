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
export const STACK_SERVICES = Object.keys(SERVICE_ENTRIES) as TStackService[];

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
  /** Port of the (first) edge replica; default a free port. */
  edgePort?: number;
  dashboardUrl?: string;
  logLevel?: string;
  /**
   * Processes per service (default 1): each replica is its own process on the same databases and NATS, edge
   * replicas on distinct ports. A number applies to every service.
   */
  replicas?: number | Partial<Record<TStackService, number>>;
  /** How long one process may take to answer /readyz (TypeScript is compiled at start: slow on a busy box). */
  readyTimeoutMs?: number;
  /** Extra env per service (NATS credentials…); `replica` is 0 for the first process of a service. */
  envFor?: (service: TStackService, replica: number) => Record<string, string>;
  /** Live output of each process (npm start streams it to the terminal). */
  onOutput?: (service: TStackService, chunk: string, replica: number) => void;
}

export interface TStackProcess {
  service: TStackService;
  /** 0-based index among the service's replicas. */
  replica: number;
  child: TChild;
  healthUrl: string;
}

export interface TStack {
  /** The first edge replica. */
  edgeUrl: string;
  /** Every edge replica, by replica index (a replica keeps its port across restarts). */
  edgeUrls: string[];
  /** The first replica of each running service (what single-replica tests use). */
  processes: Map<TStackService, TStackProcess>;
  vaultMasterKey: string;
  /** Replicas configured for a service. */
  replicasOf(service: TStackService): number;
  /** Every running process (all services, all replicas). */
  running(): TStackProcess[];
  /** Start (again) one replica of a service and wait until it is ready. */
  start(service: TStackService, replica?: number): Promise<TStackProcess>;
  /**
   * SIGKILL (crash) or SIGTERM (graceful) one replica of a service; resolves once it has exited, with its exit
   * code (null when the signal ended it, undefined when it was not running).
   */
  kill(
    service: TStackService,
    signal?: NodeJS.Signals,
    replica?: number,
  ): Promise<number | null | undefined>;
  stop(): Promise<void>;
  /** Everything a service printed, every replica and earlier incarnation (for assertions on logs). */
  output(service: TStackService, replica?: number): string;
}

export function randomMasterKey(keyId = 'k1'): string {
  return `${keyId}:${randomBytes(32).toString('base64')}`;
}

const keyOf = (service: TStackService, replica: number): string => `${service}#${replica}`;

/**
 * The whole backend as separate processes (each app's own main.ts, as operators deploy them), on the given
 * databases and NATS, optionally several replicas per service. Waits for every /readyz before returning.
 */
export async function startStack(
  opts: TStackOptions,
  services: TStackService[] = STACK_SERVICES,
): Promise<TStack> {
  const vaultMasterKey = opts.vaultMasterKey ?? randomMasterKey();
  // Every edge replica (and a restarted edge) must accept the grant session cookie another one signed.
  const oauthSessionSecret = randomBytes(32).toString('hex');
  const replicasOf = (service: TStackService): number => {
    const r = typeof opts.replicas === 'number' ? opts.replicas : opts.replicas?.[service];
    return Math.max(1, r ?? 1);
  };
  const edgePorts: number[] = [];
  for (let i = 0; i < replicasOf('edge'); i += 1)
    edgePorts.push(i === 0 && opts.edgePort !== undefined ? opts.edgePort : await freePort());
  const all = new Map<string, TStackProcess>();
  /** The first replica of each running service (the map single-replica callers always had). */
  const processes = new Map<TStackService, TStackProcess>();
  const logs = new Map<string, string>();

  const startOnce = async (service: TStackService, replica = 0): Promise<TStackProcess> => {
    if (replica < 0 || replica >= replicasOf(service))
      throw new Error(`${service} has no replica ${replica}`);
    const key = keyOf(service, replica);
    if (all.has(key)) throw new Error(`${key} is already running`);
    const port = service === 'edge' ? (edgePorts[replica] ?? 0) : await freePort();
    const migrationsUrl = opts.migrationsDatabaseUrlFor?.(service);
    const env: Record<string, string> = {
      DATABASE_URL: opts.databaseUrlFor(service),
      ...(migrationsUrl ? { MIGRATIONS_DATABASE_URL: migrationsUrl } : {}),
      NATS_URL: opts.natsUrl,
      LOG_LEVEL: opts.logLevel ?? 'warn',
      ...(service === 'edge'
        ? {
            EDGE_PORT: String(port),
            DASHBOARD_URL: opts.dashboardUrl ?? 'http://127.0.0.1:5173',
            OAUTH_SESSION_SECRET: oauthSessionSecret,
            // A local stack: tests, the bench and `npm start` read the edge's metrics where they read its health.
            EDGE_PUBLIC_METRICS: 'true',
          }
        : { HEALTH_PORT: String(port) }),
      ...(opts.providersFile ? { PROVIDERS_FILE: opts.providersFile } : {}),
      ...(service === 'credential-vault' ? { VAULT_MASTER_KEY: vaultMasterKey } : {}),
      ...opts.envFor?.(service, replica),
    };
    const child = spawnTs(
      SERVICE_ENTRIES[service],
      env,
      [],
      opts.onOutput ? (c) => opts.onOutput?.(service, c, replica) : undefined,
    );
    const healthUrl = `http://127.0.0.1:${port}/readyz`;
    const proc: TStackProcess = { service, replica, child, healthUrl };
    all.set(key, proc);
    if (replica === 0) processes.set(service, proc);
    try {
      await waitFor(
        async () => {
          if (child.proc.exitCode !== null || child.proc.signalCode !== null)
            throw new Error(`${key} exited:\n${child.output()}`);
          const r = await fetch(healthUrl).catch(() => undefined);
          return r?.ok === true;
        },
        { timeoutMs: opts.readyTimeoutMs ?? 60_000, intervalMs: 100, what: `${key} ready` },
      );
    } catch (e) {
      if (child.proc.exitCode === null && child.proc.signalCode === null)
        await child.kill('SIGKILL');
      logs.set(key, (logs.get(key) ?? '') + child.output());
      all.delete(key);
      if (replica === 0) processes.delete(service);
      throw new Error(`${key} did not start: ${(e as Error).message}\n${child.output()}`);
    }
    return proc;
  };
  /** A port taken between the check and the service's listen (another test's server): again, on another port. */
  const start = async (service: TStackService, replica = 0): Promise<TStackProcess> => {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await startOnce(service, replica);
      } catch (e) {
        if (attempt >= 3 || !(e as Error).message.includes('EADDRINUSE')) throw e;
      }
    }
  };

  const kill = async (
    service: TStackService,
    signal: NodeJS.Signals = 'SIGKILL',
    replica = 0,
  ): Promise<number | null | undefined> => {
    const key = keyOf(service, replica);
    const p = all.get(key);
    if (!p) return undefined;
    // Already gone (crashed on its own): nothing to signal, and no 'exit' event left to wait for.
    const { proc } = p.child;
    const code =
      proc.exitCode === null && proc.signalCode === null
        ? await p.child.kill(signal)
        : proc.exitCode;
    logs.set(key, (logs.get(key) ?? '') + p.child.output());
    all.delete(key);
    if (replica === 0) processes.delete(service);
    return code;
  };

  // At most four processes start at once (as many as a one-replica stack starts together): each one compiles
  // its TypeScript on start, and ten at once on a small machine would each take longer than its timeout.
  const startAll = async (list: TStackService[]): Promise<void> => {
    const queue = list.flatMap((s) =>
      Array.from({ length: replicasOf(s) }, (_, i) => [s, i] as const),
    );
    const errors: unknown[] = [];
    const lane = async (): Promise<void> => {
      for (let next = queue.shift(); next && errors.length === 0; next = queue.shift())
        await start(next[0], next[1]).catch((e: unknown) => errors.push(e));
    };
    await Promise.all(Array.from({ length: 4 }, lane));
    if (errors.length) throw errors[0];
  };
  try {
    await startAll(services.filter((s) => s !== 'edge'));
    // The edge last: it talks to the others as soon as it serves.
    if (services.includes('edge')) await startAll(['edge']);
  } catch (e) {
    await Promise.all([...all.values()].map((p) => kill(p.service, 'SIGKILL', p.replica)));
    throw e;
  }

  const edgeUrls = edgePorts.map((p) => `http://127.0.0.1:${p}`);
  return {
    edgeUrl: edgeUrls[0] ?? '',
    edgeUrls,
    processes,
    vaultMasterKey,
    replicasOf,
    running: () => [...all.values()],
    start,
    kill,
    output: (service, replica) => {
      const keys =
        replica === undefined
          ? Array.from({ length: replicasOf(service) }, (_, i) => keyOf(service, i))
          : [keyOf(service, replica)];
      return keys.map((k) => (logs.get(k) ?? '') + (all.get(k)?.child.output() ?? '')).join('');
    },
    stop: async () => {
      await Promise.all([...all.values()].map((p) => kill(p.service, 'SIGTERM', p.replica)));
    },
  };
}
