// One `npm start` per database and per NATS: a second stack sharing either takes the first one's sync jobs and
// sagas (same tables) or answers its requests (same NATS queue groups), with the wrong fake provider.
import { hostname } from 'node:os';
import pg from 'pg';
import { RequestStrategy, type NatsConnection, type Service } from 'nats';
import { connectNats } from '@otesse/messaging';
import { databaseName, pgClientConfig } from '@otesse/persistence';

/** The NATS micro-services of the backend (`$SRV.PING` finds them, however they were started). */
export const OTESSE_NATS_SERVICES = [
  'credential-vault',
  'connection',
  'sync-scheduler',
  'audit',
] as const;
/** What each running launcher registers on NATS for its whole life, saying where its stack is. */
export const LAUNCHER_SERVICE = 'otesse-npm-start';
/** Session advisory lock key a launcher holds in its database (positive and < 2^31: pg_locks shows it as objid). */
export const STACK_LOCK_KEY = 1_776_300_401;

export interface TStackGuardOptions {
  /** The stack's database, as a superuser's URL (npm start's DATABASE_URL). */
  databaseUrl: string;
  natsUrl: string;
  /** Where this stack's edge listens: another launcher's refusal names it. */
  edgeUrl: string;
  /** Called when the database does not exist yet (no stack can run on it): create it, then the lock is taken. */
  createDatabase?: () => Promise<void>;
  /** How long `$SRV.PING` waits for answers. */
  pingWaitMs?: number;
  /** The guard's database session ended (Postgres restarted): the lock is gone. */
  onLost?: (why: string) => void;
}

export interface TStackGuard {
  /** Ends the lock's session and the launcher's NATS registration: another launcher may start. */
  release(): Promise<void>;
}

/** Another stack uses this database or this NATS; the message says which, and what to set instead. */
export class StackInUseError extends Error {
  override name = 'StackInUseError';
}

interface TLauncherInfo {
  pid: string;
  host: string;
  edge: string;
  database: string;
  startedAt: string;
}

const describeLauncher = (m: Partial<TLauncherInfo>): string =>
  `npm start (pid ${m.pid ?? '?'} on ${m.host ?? '?'}, edge ${m.edge ?? '?'}, database ${m.database ?? '?'})`;

/** Takes the stack's database lock and checks its NATS, or throws StackInUseError naming what to change. */
export async function acquireStackGuard(opts: TStackGuardOptions): Promise<TStackGuard> {
  const dbName = databaseName(opts.databaseUrl);
  const dbWhere = `the database "${dbName}" on ${new URL(opts.databaseUrl).host}`;
  const me: TLauncherInfo = {
    pid: String(process.pid),
    host: hostname(),
    edge: opts.edgeUrl,
    database: dbName,
    startedAt: new Date().toISOString(),
  };
  const conflicts: string[] = [];
  const needs = new Set<'DATABASE_URL' | 'NATS_URL'>();

  const client = await lockSession(opts, me);
  const [locked] = (
    await client.query<{ locked: boolean }>('select pg_try_advisory_lock($1::bigint) as locked', [
      STACK_LOCK_KEY,
    ])
  ).rows;
  if (!locked?.locked) {
    conflicts.push(`${dbWhere} is in use by ${await lockHolder(client)}`);
    needs.add('DATABASE_URL');
  }

  let nc: NatsConnection | undefined;
  let service: Service | undefined;
  const release = async (): Promise<void> => {
    await service?.stop().catch(() => undefined);
    await nc?.close().catch(() => undefined);
    // Ending the session releases the advisory lock (also what happens when the launcher dies).
    await client.end().catch(() => undefined);
  };
  try {
    nc = await connectNats({ url: opts.natsUrl, name: LAUNCHER_SERVICE });
    const answering = await pingServices(nc, opts.pingWaitMs);
    if (answering.length > 0) {
      conflicts.push(
        `NATS ${opts.natsUrl} already has Otesse services answering: ${answering.join('; ')}`,
      );
      needs.add('NATS_URL');
    }
    if (conflicts.length === 0) {
      // Registered for the launcher's life, so the next launcher on this NATS is refused before starting anything.
      service = await nc.services.add({
        name: LAUNCHER_SERVICE,
        version: '1.0.0',
        description: 'an npm start stack runs on this NATS',
        metadata: { ...me },
      });
      // Two launchers that pinged at the same moment both see the other now: the later one gives way.
      const rival = (await launchersOn(nc, opts.pingWaitMs)).find(
        (l) => l.id !== service?.info().id && earlier(l, { ...me, id: service?.info().id ?? '' }),
      );
      if (rival) {
        conflicts.push(`NATS ${opts.natsUrl} is being taken by ${describeLauncher(rival)}`);
        needs.add('NATS_URL');
      }
    }
  } catch (e) {
    await release();
    throw e;
  }
  if (conflicts.length > 0) {
    await release();
    throw new StackInUseError(refusal(opts, conflicts, needs));
  }
  client.on('error', (e: Error) =>
    opts.onLost?.(`the database session holding the stack's lock ended (${e.message})`),
  );
  return { release };
}

/** A session on the stack's database, named after the launcher so that a refused one can say who holds the lock. */
async function lockSession(opts: TStackGuardOptions, me: TLauncherInfo): Promise<pg.Client> {
  const connect = async (): Promise<pg.Client> => {
    const client = new pg.Client({
      ...pgClientConfig(opts.databaseUrl),
      // At most 63 characters are kept: the pid and the edge first.
      application_name: `otesse npm start pid ${me.pid} edge ${me.edge}`,
    });
    // Until the lock is checked a failure surfaces through connect/query; after, through `onLost`.
    client.on('error', () => undefined);
    try {
      await client.connect();
      return client;
    } catch (e) {
      await client.end().catch(() => undefined);
      throw e;
    }
  };
  try {
    return await connect();
  } catch (e) {
    // 3D000: no such database, so no stack can be running on it.
    if ((e as { code?: string }).code !== '3D000' || !opts.createDatabase) throw e;
    await opts.createDatabase();
    return connect();
  }
}

async function lockHolder(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{
    application_name: string;
    client_addr: string | null;
    backend_start: Date;
  }>(
    `select a.application_name, host(a.client_addr) as client_addr, a.backend_start
       from pg_locks l join pg_stat_activity a on a.pid = l.pid
      where l.locktype = 'advisory' and l.granted and l.classid = 0 and l.objid = $1 and l.objsubid = 1
        and l.database = (select oid from pg_database where datname = current_database())`,
    [STACK_LOCK_KEY],
  );
  const holder = rows[0];
  if (!holder) return 'another npm start';
  const since = `connected from ${holder.client_addr ?? 'a local socket'} since ${holder.backend_start.toISOString()}`;
  const named = /^otesse npm start pid (\d+) edge (\S+)/.exec(holder.application_name);
  return named
    ? `npm start (pid ${named[1]}, edge ${named[2]}; ${since})`
    : `${holder.application_name || 'another npm start'} (${since})`;
}

/** The backend's services and launchers answering `$SRV.PING` on this NATS, described. */
async function pingServices(nc: NatsConnection, waitMs = 1_000): Promise<string[]> {
  const found = new Map<string, number>();
  const launchers: string[] = [];
  for (const s of await identities(nc, '', waitMs)) {
    if (s.name === LAUNCHER_SERVICE) launchers.push(describeLauncher(s.metadata ?? {}));
    else if ((OTESSE_NATS_SERVICES as readonly string[]).includes(s.name))
      found.set(s.name, (found.get(s.name) ?? 0) + 1);
  }
  const services = [...found]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, n]) => (n > 1 ? `${name} ×${n}` : name));
  return [...(services.length ? [services.join(', ')] : []), ...launchers];
}

async function launchersOn(
  nc: NatsConnection,
  waitMs = 1_000,
): Promise<(Partial<TLauncherInfo> & { id: string })[]> {
  return (await identities(nc, LAUNCHER_SERVICE, waitMs)).map((s) => ({
    ...(s.metadata ?? {}),
    id: s.id,
  }));
}

async function identities(
  nc: NatsConnection,
  name: string,
  waitMs: number,
): Promise<{ name: string; id: string; metadata?: Record<string, string> }[]> {
  const client = nc.services.client({ strategy: RequestStrategy.Timer, maxWait: waitMs });
  const out = [];
  try {
    for await (const s of await client.ping(name)) out.push(s);
  } catch (e) {
    // Nobody subscribed to `$SRV.PING`: nothing runs there.
    if ((e as { code?: string }).code !== '503') throw e;
  }
  return out;
}

const earlier = (
  a: Partial<TLauncherInfo> & { id: string },
  b: Partial<TLauncherInfo> & { id: string },
): boolean =>
  (a.startedAt ?? '') < (b.startedAt ?? '') || (a.startedAt === b.startedAt && a.id < b.id);

function refusal(
  opts: TStackGuardOptions,
  conflicts: string[],
  needs: Set<'DATABASE_URL' | 'NATS_URL'>,
): string {
  const example: string[] = [];
  const extra: string[] = [];
  if (needs.has('DATABASE_URL')) {
    const u = new URL(opts.databaseUrl);
    u.pathname = `/${databaseName(opts.databaseUrl)}_2`;
    if (u.password) u.password = '***';
    example.push(`DATABASE_URL=${u.toString()}`);
  }
  if (needs.has('NATS_URL')) {
    const first = new URL(opts.natsUrl.split(',')[0] ?? 'nats://127.0.0.1:4222');
    const port = Number(first.port || 4222) + 1;
    example.push(`NATS_URL=nats://${first.hostname}:${port}`);
    extra.push(
      `  (a NATS of its own: nats-server -a ${first.hostname} -p ${port} -js -sd /tmp/otesse-nats-${port})`,
    );
  }
  return [
    'Another Otesse stack already runs on what this one would share:',
    ...conflicts.map((c) => `  - ${c}`),
    "Two stacks on one database take each other's sync jobs and sagas; on one NATS they answer each other's requests.",
    `Stop the other stack (Ctrl-C in its terminal), or give this one its own ${[...needs].join(' and ')}, and its own ports:`,
    `  ${example.join(' ')} EDGE_PORT=3001 DASHBOARD_PORT=5174 FAKE_PROVIDER_PORT=4011 npm start`,
    ...extra,
  ].join('\n');
}
