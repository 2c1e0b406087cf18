import { fork, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'nats';
import { request as httpRequest } from 'undici';
import { createTestDatabase, startNatsServer } from '@otesse/testing';
import { percentile } from '../bench-utils';
import { cpuByPid, processUsage } from '../process-usage';

const ROLES = ['vault', 'connection', 'scheduler', 'audit', 'edge'] as const;
const TABLES = ['skel_saga', 'skel_vault', 'skel_connection', 'skel_scheduler', 'skel_audit'];

export interface TSkeletonResult {
  /** Sequential disconnects through the skeleton, end to end (ms). */
  p50Ms: number;
  p99Ms: number;
  /** With `clients` concurrent clients. */
  throughputPerSec: number;
  /** CPU ms per disconnect of each process (with `clients` concurrent clients), the client and provider included. */
  cpuMsPerDisconnect: Record<string, number>;
}

/**
 * The disconnect skeleton (`skeleton-process.ts`): the same processes, round trips and commits a disconnect makes,
 * with none of the work — its own fresh database and nats-server, the provider a bare HTTP server in this process.
 * What it sustains is the ceiling of the message pattern on this machine, measured in the same run as the product.
 */
export async function runSkeleton(opts: {
  sequential: number;
  concurrent: number;
  clients: number;
}): Promise<TSkeletonResult> {
  const [db, nats] = await Promise.all([createTestDatabase('otesse_bench'), startNatsServer()]);
  const procs: ChildProcess[] = [];
  let provider: Server | undefined;
  try {
    for (const t of TABLES) {
      await db.query(
        `create table ${t} (id text primary key, body jsonb not null, n int not null)`,
      );
    }
    const nc = await connect({ servers: nats.url });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'SKEL', subjects: ['skel.audit.append', 'skel.events.>'] });
    await nc.close();
    // The provider's revocation endpoint: answers 200 at once (the real one runs elsewhere).
    provider = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end());
    });
    await new Promise<void>((r) => provider?.listen(0, '127.0.0.1', r));
    const address = provider.address();
    const providerUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const config = JSON.stringify({
      dbUrl: db.adminUrl,
      natsUrl: nats.url,
      providerUrl,
      stream: 'SKEL',
    });
    const script = join(dirname(fileURLToPath(import.meta.url)), 'skeleton-process.ts');
    let port = 0;
    for (const role of ROLES) {
      const child = fork(script, [role, config], { execArgv: ['--import', 'tsx'] });
      procs.push(child);
      const ready = await new Promise<{ port?: number }>((resolve, reject) => {
        child.once('message', (m) => resolve(m as { port?: number }));
        child.once('exit', (code) => reject(new Error(`skeleton ${role} exited (${code})`)));
      });
      if (role === 'edge') port = ready.port ?? 0;
    }
    let seq = 0;
    const disconnect = async (): Promise<void> => {
      seq += 1;
      const res = await httpRequest(`http://127.0.0.1:${port}/disconnect`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: `c${seq}` }),
      });
      const body = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`skeleton disconnect: ${res.statusCode} ${body}`);
    };
    for (let i = 0; i < 100; i += 1) await disconnect();
    const samples: number[] = [];
    for (let i = 0; i < opts.sequential; i += 1) {
      const t0 = performance.now();
      await disconnect();
      samples.push(performance.now() - t0);
    }
    const cpu = (): Record<string, number> => {
      const out: Record<string, number> = {};
      procs.forEach((p, i) => {
        out[ROLES[i] ?? String(i)] = p.pid ? (processUsage(p.pid)?.cpuMs ?? 0) : 0;
      });
      out['postgres'] = [...cpuByPid(new RegExp(`^postgres: .*${db.name} `)).values()].reduce(
        (a, b) => a + b,
        0,
      );
      out['nats-server'] = [
        ...cpuByPid(new RegExp(`nats-server .*-p ${nats.port} `)).values(),
      ].reduce((a, b) => a + b, 0);
      const self = process.cpuUsage();
      out['bench (clients + provider)'] = (self.user + self.system) / 1000;
      return out;
    };
    const before = cpu();
    let left = opts.concurrent;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: opts.clients }, async () => {
        while (left > 0) {
          left -= 1;
          await disconnect();
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const after = cpu();
    const cpuMsPerDisconnect: Record<string, number> = {};
    for (const [k, v] of Object.entries(after)) {
      cpuMsPerDisconnect[k] = Math.round(((v - (before[k] ?? 0)) / opts.concurrent) * 100) / 100;
    }
    return {
      p50Ms: percentile(samples, 50),
      p99Ms: percentile(samples, 99),
      throughputPerSec: opts.concurrent / seconds,
      cpuMsPerDisconnect,
    };
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(
      procs.map(
        (p) =>
          new Promise<void>((r) => {
            if (p.exitCode !== null) r();
            else p.once('exit', () => r());
          }),
      ),
    );
    provider?.close();
    await nats.stop().catch(() => undefined);
    await db.drop().catch(() => undefined);
  }
}

// Run on its own: `npx tsx tools/bench/src/skeleton/run-skeleton.ts`.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = await runSkeleton({ sequential: 200, concurrent: 2000, clients: 32 });
  process.stdout.write(`${JSON.stringify(r)}\n`);
}
