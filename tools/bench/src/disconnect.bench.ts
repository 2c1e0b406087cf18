// npm run bench:disconnect — end-to-end disconnect latency and throughput through the tRPC API, against the floor
// (the raw NATS round trips and Postgres commits the saga needs, measured in the same run), and stale-marking of
// 1,000,000 references against a bare SQL UPDATE of the same rows.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createTRPCClient, httpLink } from '@trpc/client';
import type { AppRouter } from '@otesse/edge-api';
import * as identity from '@otesse/identity';
import { Bus, connectNats } from '@otesse/messaging';
import { connectOverNats, seedOrg } from '@otesse/testing';
import { startBenchStack } from './bench-stack';
import { lightFetch } from './light-fetch';
import { runSkeleton, type TSkeletonResult } from './skeleton/run-skeleton';
import {
  formatTable,
  printResultLine,
  round,
  stats,
  timeSequential,
  profileEnv,
} from './bench-utils';
import { cpuByPid, postgresRoleByPid, processUsage } from './process-usage';

const LATENCY_RUNS = Number(process.env['BENCH_DISCONNECTS'] ?? 200);
const THROUGHPUT_RUNS = Number(process.env['BENCH_THROUGHPUT_DISCONNECTS'] ?? 128);
/** Concurrent clients of each throughput run; the first is the headline figure (issue 5: 32; issue 8: 32 and 128). */
const CONCURRENCIES = (process.env['BENCH_CONCURRENCY'] ?? '32,128')
  .split(',')
  .map((c) => Number(c.trim()))
  .filter((c) => c > 0);
/**
 * Disconnects before the latency run, not measured: every process's code paths are run often enough for V8 to have
 * compiled them (with 10, the first few dozen measured disconnects still ran partly interpreted, and set the p99).
 */
const WARMUP = Number(process.env['BENCH_WARMUP'] ?? 50);
/** Disconnects through the skeleton (the same round trips, no work) with the first concurrency; 0: skip it. */
const SKELETON_DISCONNECTS = Number(process.env['BENCH_SKELETON_DISCONNECTS'] ?? 2_000);
const REFS_PER_CONNECTION = Number(process.env['BENCH_REFS'] ?? 10_000);
const STALE_ROWS = Number(process.env['BENCH_STALE_ROWS'] ?? 1_000_000);
/**
 * The NATS round trips, JetStream publishes and Postgres commits one disconnect needs at least, one after the
 * other (its critical path; see ARCHITECTURE.md, the saga and its stages). Steps of one stage run at once and count
 * once. Saga version 3 (session 6), the instance's last connection or not: lock (which authorizes, and holds the
 * instance of its last connection), disable jobs, revoke, (destroy ∥ statuses ∥ mark stale) — 4 requests;
 * (audit ∥ event) — 1 publish; the saga log's insert, its 4 transitions and its end, plus the one transaction of
 * each command on the path (lock, disable, revoke, the third stage) — 10 commits. (Version 2, measured up to
 * session 5, needed one more request, commit and transition for the instance's last connection — every connection
 * this bench disconnects — so its ratios were taken against a floor one stage short.)
 */
const SAGA_REQUESTS = 4;
const SAGA_PUBLISHES = 1;
const SAGA_COMMITS = 1 + 4 + 1 + 4;

/**
 * Sums and counts of the NATS request and handler histograms over every process of the stack, by subject; and per
 * process its garbage collections (prom-client's `nodejs_gc_duration_seconds`, by kind) and the longest event-loop
 * delay since the previous scrape (`nodejs_eventloop_lag_max_seconds`, which prom-client resets on every scrape).
 */
async function scrapeServiceMetrics(stack: {
  running(): { service: string; healthUrl: string }[];
}) {
  const request = new Map<string, { sum: number; count: number }>();
  const handler = new Map<string, { sum: number; count: number }>();
  const gc = new Map<string, { sum: number; count: number }>();
  const lagMaxMs = new Map<string, number>();
  for (const p of stack.running()) {
    const text = await fetch(p.healthUrl.replace(/\/readyz$/, '/metrics'))
      .then((r) => r.text())
      .catch(() => '');
    for (const line of text.split('\n')) {
      const g =
        /^nodejs_gc_duration_seconds_(sum|count)\{[^}]*kind="([a-z]+)"[^}]*\} ([0-9.e+-]+)$/.exec(
          line,
        );
      if (g) {
        const k = `${p.service} ${g[2]}`;
        const e = gc.get(k) ?? { sum: 0, count: 0 };
        e[g[1] as 'sum' | 'count'] += Number(g[3]);
        gc.set(k, e);
        continue;
      }
      const lag = /^nodejs_eventloop_lag_max_seconds(?:\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
      if (lag) {
        lagMaxMs.set(p.service, Math.max(lagMaxMs.get(p.service) ?? 0, Number(lag[1]) * 1000));
        continue;
      }
      const m =
        /^otesse_nats_(request|handler)_duration_seconds_(sum|count)\{[^}]*subject="([^"]+)"[^}]*\} ([0-9.e+-]+)$/.exec(
          line,
        );
      if (!m) continue;
      const into = m[1] === 'request' ? request : handler;
      const e = into.get(m[3]!) ?? { sum: 0, count: 0 };
      e[m[2] as 'sum' | 'count'] += Number(m[4]);
      into.set(m[3]!, e);
    }
  }
  return { request, handler, gc, lagMaxMs };
}

const sumOf = (m: Map<number, number>): number => [...m.values()].reduce((a, b) => a + b, 0);

/** Postgres backends' CPU grouped by role, i.e. by the service each serves, as `pg:<role>` entries. */
function backendsByRole(
  backends: Map<number, number>,
): [string, { cpuMs: number; byPid: Map<number, number> }][] {
  const groups = new Map<string, Map<number, number>>();
  for (const [pid, role] of postgresRoleByPid(backends.keys())) {
    const group = groups.get(role) ?? new Map<number, number>();
    group.set(pid, backends.get(pid) ?? 0);
    groups.set(role, group);
  }
  return [...groups].map(([role, byPid]) => [`pg:${role}`, { cpuMs: 0, byPid }]);
}

const log = (s: string): void => {
  process.stderr.write(`${s}\n`);
};

async function main(): Promise<void> {
  const { db, nats, stack, stop } = await startBenchStack((service) => ({
    // One API token drives every client: the per-token limit (3,000 a minute by default) must not be what the
    // throughput run measures.
    ...(service === 'edge' ? { RATE_LIMIT_TOKEN: '1000000' } : {}),
    // BENCH_PROFILE_DIR: every process writes a V8 CPU profile (started after seeding, on SIGUSR2).
    ...profileEnv({ onSignal: true }),
  }));
  const SEEDED = LATENCY_RUNS + THROUGHPUT_RUNS * CONCURRENCIES.length + WARMUP;
  /** CPU (ms) and memory of every process a disconnect runs through, to see where the time goes. */
  const usage = () => {
    const per: Record<
      string,
      { cpuMs: number; rssMb: number; peakRssMb: number; byPid?: Map<number, number> }
    > = {};
    for (const p of stack.running()) {
      const u = p.child.proc.pid ? processUsage(p.child.proc.pid) : undefined;
      if (u) per[p.replica ? `${p.service}#${p.replica}` : p.service] = u;
    }
    // Backends come and go (pools grow and shrink): per pid, so one that exited cannot make the delta negative.
    const backends = cpuByPid(new RegExp(`^postgres: .*${db.name} `));
    per['postgres'] = {
      cpuMs: sumOf(backends),
      rssMb: 0,
      peakRssMb: 0,
      byPid: backends,
    };
    per['nats-server'] = {
      cpuMs: sumOf(cpuByPid(new RegExp(`nats-server .*-p ${nats.port} `))),
      rssMb: 0,
      peakRssMb: 0,
    };
    // This process: the tRPC clients and the fake provider (a real provider's work is not on this machine). On the
    // same two cores, so what it takes is not there for the stack either.
    const own = process.cpuUsage();
    per['bench (clients + fake provider)'] = {
      cpuMs: (own.user + own.system) / 1_000,
      rssMb: 0,
      peakRssMb: 0,
    };
    return per;
  };
  const cpuPerOp = (
    before: ReturnType<typeof usage>,
    after: ReturnType<typeof usage>,
    ops: number,
  ): string =>
    [
      ...Object.entries(after),
      // BENCH_DEBUG: Postgres split by the role (the service) each backend serves.
      ...(process.env['BENCH_DEBUG'] && after['postgres']?.byPid
        ? backendsByRole(after['postgres'].byPid)
        : []),
    ]
      .map(([k, v]) => {
        const was = before[k.startsWith('pg:') ? 'postgres' : k];
        const ms = v.byPid
          ? sumOf(new Map([...v.byPid].map(([pid, c]) => [pid, c - (was?.byPid?.get(pid) ?? 0)])))
          : v.cpuMs - (was?.cpuMs ?? 0);
        return `${k} ${(ms / ops).toFixed(2)}`;
      })
      .join(', ');
  const idle = usage();
  const nc = await connectNats({ url: nats.url, name: 'bench' });
  const bus = new Bus(nc, { timeoutMs: 30_000 });
  const admin = new pg.Pool({ connectionString: db.adminUrl, max: 4 });
  /** The stack is stopped before the skeleton runs. */
  let stopped = false;
  try {
    const {
      orgId,
      users: [{ token }],
    } = await seedOrg(identity, db, {
      name: 'Bench',
      users: [{ email: 'admin@bench.test', role: 'admin' }],
    });
    const org = { id: orgId };
    // httpLink: one call per request, as a script or another service calls the API. httpBatchLink's batching window
    // (a timer per call in Node) adds ≈ 2 ms of client time to a lone call: the client's cost, not the API's; so is
    // WHATWG fetch's (`lightFetch`, since session 30).
    const client = createTRPCClient<AppRouter>({
      links: [
        httpLink({
          url: `${stack.edgeUrl}/trpc`,
          headers: { authorization: `Bearer ${token}` },
          fetch: lightFetch,
        }),
      ],
    });

    /** A connected user-level Google connection with 3 sync jobs and REFS_PER_CONNECTION references. */
    const makeConnection = async (): Promise<string> => {
      const connection = await connectOverNats(bus, {
        orgId: org.id,
        vendor: 'google',
        userId: randomUUID(),
        externalAccountId: `acct-${randomUUID()}`,
        tenantId: 'acme',
        accessToken: { value: `fpa_${randomUUID()}`, expiresAt: new Date(Date.now() + 3_600_000) },
        refreshToken: `fpr_${randomUUID()}`,
        resources: ['contacts', 'invoices', 'tickets'],
      });
      await admin.query(
        `insert into sync.external_reference (org_id, instance_id, connection_id, resource, external_id, local_record_id, last_synced_at)
         select $1, $2, $3, 'contacts', $5 || '-' || g, gen_random_uuid(), now() from generate_series(1, $4::int) g`,
        [
          org.id,
          connection.instanceId,
          connection.connectionId,
          REFS_PER_CONNECTION,
          connection.connectionId.slice(0, 8),
        ],
      );
      return connection.connectionId;
    };

    log(`seeding ${SEEDED} connections × ${REFS_PER_CONNECTION} references…`);
    const pool: string[] = [];
    for (let i = 0; i < SEEDED; i += 1) pool.push(await makeConnection());
    // New jobs run their first sync within a minute: let those finish, so the measured phases see disconnects
    // only, not the seeded connections' background syncs.
    log('waiting for the seeded jobs’ first syncs…');
    for (;;) {
      const { rows } = await admin.query<{ n: string }>(
        `select count(*) as n from sync.sync_job j
          where j.is_enabled and (j.next_run_at < now() + interval '1 hour'
             or exists (select 1 from sync.sync_execution e where e.job_id = j.id and e.status = 'running'))`,
      );
      if (rows[0]?.n === '0') break;
      await new Promise((r) => setTimeout(r, 500));
    }
    await admin.query('vacuum analyze');

    // The floor, in the same run: raw NATS request/reply and single-row Postgres commits.
    const floorSub = nc.subscribe('bench.floor', { callback: (_e, m) => m.respond(m.data) });
    const payload = new TextEncoder().encode(
      JSON.stringify({ orgId: org.id, connectionId: randomUUID(), idempotencyKey: 'x'.repeat(73) }),
    );
    const natsRt = await timeSequential(2_000, () =>
      nc.request('bench.floor', payload, { timeout: 5_000 }),
    );
    const js = nc.jetstream();
    await (
      await nc.jetstreamManager()
    ).streams.add({ name: 'BENCHFLOOR', subjects: ['benchfloor.>'] });
    const jsPub = await timeSequential(500, () =>
      js.publish('benchfloor.x', payload, { msgID: randomUUID() }),
    );
    await admin.query('create table public.bench_floor (id uuid primary key, v jsonb)');
    const commit = await timeSequential(2_000, () =>
      admin.query('insert into public.bench_floor values ($1, $2)', [randomUUID(), '{"a":1}']),
    );
    floorSub.unsubscribe();
    const floorMs =
      SAGA_REQUESTS * stats(natsRt).p50 +
      SAGA_PUBLISHES * stats(jsPub).p50 +
      SAGA_COMMITS * stats(commit).p50;

    // Warm-up, then the latency run: one disconnect at a time, end to end through tRPC.
    for (let i = 0; i < WARMUP; i += 1) {
      const w = await client.disconnect.start.mutate({
        connectionId: pool.pop()!,
        confirm: true,
        waitMs: 30_000,
      });
      if (process.env['BENCH_DEBUG'] && i === WARMUP - 1) {
        for (const st of w.saga.steps) {
          log(
            `${st.name.padEnd(24)} attempts=${st.attempts} ${st.startedAt} → ${st.completedAt} ${st.error ? JSON.stringify(st.error) : ''}`,
          );
        }
        log(`saga ${w.saga.createdAt} → ${w.saga.completedAt}`);
      }
    }
    if (process.env['BENCH_DEBUG']) {
      // The API's own share: an authenticated call that does nothing else (HTTP, tRPC, the token check).
      const me = stats(await timeSequential(500, () => client.me.get.query()));
      log(
        `authenticated no-op via tRPC (me.get) p50 ${me.p50.toFixed(2)} ms, p99 ${me.p99.toFixed(2)} ms`,
      );
    }
    log(`latency: ${LATENCY_RUNS} sequential disconnects…`);
    const beforeLatency = usage();
    const metricsBefore = process.env['BENCH_DEBUG']
      ? await scrapeServiceMetrics(stack)
      : undefined;
    // Profiles cover the measured phases only, not start-up and seeding.
    if (process.env['BENCH_PROFILE_DIR'])
      for (const p of stack.running()) p.child.proc.kill('SIGUSR2');
    /** Each step's duration as the saga log records it (start of its command → its recorded success). */
    const stepMs = new Map<string, number[]>();
    /** The saga's own duration (its insert → its end, database clock): the rest of the latency is the API's. */
    const sagaMs: number[] = [];
    /** Each disconnect's step durations, to say where a slow one spent its time. */
    const sagaSteps: string[] = [];
    const latencies = await timeSequential(LATENCY_RUNS, async () => {
      const r = await client.disconnect.start.mutate({
        connectionId: pool.pop()!,
        confirm: true,
        waitMs: 30_000,
      });
      if (r.saga.status !== 'completed') throw new Error(`saga ${r.sagaId} ended ${r.saga.status}`);
      if (r.saga.completedAt)
        sagaMs.push(Date.parse(r.saga.completedAt) - Date.parse(r.saga.createdAt));
      sagaSteps.push(
        r.saga.steps
          .map((st) =>
            st.startedAt && st.completedAt
              ? `${st.name} ${Date.parse(st.completedAt) - Date.parse(st.startedAt)}`
              : st.name,
          )
          .join(', '),
      );
      for (const st of r.saga.steps) {
        if (!st.startedAt || !st.completedAt) continue;
        const d = Date.parse(st.completedAt) - Date.parse(st.startedAt);
        stepMs.set(st.name, [...(stepMs.get(st.name) ?? []), d]);
      }
    });
    const l = stats(latencies);
    if (process.env['BENCH_DEBUG']) {
      // Where the slow ones fall in the run (start-up effects, or periodic background work).
      const slow = latencies
        .map((ms, i) => ({ i, ms }))
        .filter((x) => x.ms > l.p50 * 1.5)
        .map((x) => `#${x.i} ${x.ms.toFixed(0)} ms (${sagaSteps[x.i] ?? ''})`);
      log(`slow disconnects (> 1.5 × p50):\n  ${slow.join('\n  ') || 'none'}`);
    }
    log(`CPU ms per disconnect (sequential): ${cpuPerOp(beforeLatency, usage(), LATENCY_RUNS)}`);
    if (metricsBefore) {
      // Per subject: what the sender waited (request round trip) against the handler's own time (receipt to reply);
      // the difference is transport, (de)serialisation and event-loop wait.
      const after = await scrapeServiceMetrics(stack);
      const mean = (m: Map<string, { sum: number; count: number }>, b: typeof m, k: string) => {
        const x = m.get(k);
        const y = b.get(k);
        const n = (x?.count ?? 0) - (y?.count ?? 0);
        return n > 0 ? (((x?.sum ?? 0) - (y?.sum ?? 0)) / n) * 1000 : NaN;
      };
      for (const k of [...after.request.keys()].sort())
        log(
          `nats ${k.padEnd(48)} sender waits ${mean(after.request, metricsBefore.request, k).toFixed(2)} ms, handler ${mean(after.handler, metricsBefore.handler, k).toFixed(2)} ms`,
        );
      // A slow sequential disconnect with no slow statement: a process late to answer (its collections, its loop).
      for (const k of [...after.gc.keys()].sort()) {
        const x = after.gc.get(k)!;
        const y = metricsBefore.gc.get(k) ?? { sum: 0, count: 0 };
        const n = x.count - y.count;
        if (n > 0)
          log(
            `gc ${k.padEnd(30)} ${String(n).padStart(5)} collections, ${((x.sum - y.sum) * 1000).toFixed(1)} ms in all, mean ${(((x.sum - y.sum) / n) * 1000).toFixed(2)} ms`,
          );
      }
      log(
        `longest event-loop delay (sequential phase): ${[...after.lagMaxMs]
          .map(([svc, ms]) => `${svc} ${ms.toFixed(1)} ms`)
          .join(', ')}`,
      );
    }
    if (process.env['BENCH_DEBUG']) {
      log(
        `saga (insert → end) p50 ${stats(sagaMs).p50.toFixed(1)} ms, p99 ${stats(sagaMs).p99.toFixed(1)} ms`,
      );
      for (const [name, xs] of stepMs)
        log(
          `step ${name.padEnd(24)} p50 ${stats(xs).p50.toFixed(1)} ms  p99 ${stats(xs).p99.toFixed(1)} ms`,
        );
    }

    const throughputs: { clients: number; perSec: number; unfinished: number }[] = [];
    for (const clients of CONCURRENCIES) {
      log(`throughput: ${THROUGHPUT_RUNS} disconnects with ${clients} concurrent clients…`);
      const batch = pool.splice(-THROUGHPUT_RUNS);
      const before = usage();
      let unfinished = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: clients }, async () => {
          for (let id = batch.pop(); id; id = batch.pop()) {
            const r = await client.disconnect.start.mutate({
              connectionId: id,
              confirm: true,
              waitMs: 30_000,
            });
            // Still running after waitMs: counted (the figure says it), not fatal.
            if (r.saga.status === 'running') {
              unfinished += 1;
              if (process.env['BENCH_DEBUG'])
                log(
                  `still running: ${r.sagaId} ${r.saga.steps.map((st) => `${st.name}:${st.status}(${st.attempts}) ${st.startedAt ?? ''}→${st.completedAt ?? ''}`).join(' ')}`,
                );
            } else if (r.saga.status !== 'completed')
              throw new Error(`saga ${r.sagaId} ended ${r.saga.status}`);
          }
        }),
      );
      throughputs.push({
        clients,
        perSec: THROUGHPUT_RUNS / ((performance.now() - started) / 1000),
        unfinished,
      });
      if (unfinished > 0)
        log(`${unfinished} sagas still running after 30 s with ${clients} clients`);
      log(
        `CPU ms per disconnect (${clients} clients): ${cpuPerOp(before, usage(), THROUGHPUT_RUNS)}`,
      );
    }
    const throughput = throughputs[0]?.perSec ?? 0;
    const peak = usage();

    log(`stale marking: ${STALE_ROWS} references…`);
    const instanceId = randomUUID();
    const connectionId = randomUUID();
    await admin.query(
      `insert into sync.external_reference (org_id, instance_id, connection_id, resource, external_id, local_record_id, last_synced_at)
       select $1, $2, $3, 'contacts', 'ct-' || g, gen_random_uuid(), now() from generate_series(1, $4::int) g`,
      [org.id, instanceId, connectionId, STALE_ROWS],
    );
    // The bare UPDATE's table: the same rows in the shape that stores each reference's state (the scheduler's
    // before migration derived_stale: status and stale_since columns, indexed by status as it was).
    await admin.query(
      `create table public.bench_reference_stored (like sync.external_reference including all);
       alter table public.bench_reference_stored add column status text not null default 'synced',
         add column stale_since timestamptz;
       create index on public.bench_reference_stored (instance_id, status);
       create index on public.bench_reference_stored (connection_id, status);
       insert into public.bench_reference_stored select *, 'synced', null from sync.external_reference
        where instance_id = '${instanceId}';`,
    );
    await admin.query('vacuum analyze sync.external_reference, public.bench_reference_stored');
    const staleRuns: number[] = [];
    const bareRuns: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      // Each run marks all the references again: no earlier mark of the instance.
      await admin.query('delete from sync.reference_stale_mark where instance_id = $1', [
        instanceId,
      ]);
      let t = performance.now();
      // Every reader sees the references stale once this answers (their state is derived from the mark).
      const r = await bus.request(
        'sync-scheduler.references.mark-stale',
        {
          orgId: org.id,
          instanceId,
          connectionId,
          scope: 'instance',
          idempotencyKey: `bench:${randomUUID()}`,
        },
        { timeoutMs: 120_000 },
      );
      staleRuns.push(performance.now() - t);
      if (r.marked !== STALE_ROWS) throw new Error(`marked ${r.marked} of ${STALE_ROWS}`);
      await admin.query(
        `update public.bench_reference_stored set status = 'synced', stale_since = null where status = 'stale'`,
      );
      await admin.query('vacuum public.bench_reference_stored');
      t = performance.now();
      await admin.query(
        `update public.bench_reference_stored set status = 'stale', stale_since = now() where instance_id = $1 and status = 'synced'`,
        [instanceId],
      );
      bareRuns.push(performance.now() - t);
    }
    const staleMarkMs = stats(staleRuns).p50;
    const bareUpdateMs = stats(bareRuns).p50;

    // The ceiling: the same message pattern with none of the work, once the stack is gone (its idle processes
    // would take from it).
    await admin.end();
    await nc.close();
    await stop();
    stopped = true;
    let skeleton: TSkeletonResult | undefined;
    if (SKELETON_DISCONNECTS > 0) {
      const clients = CONCURRENCIES[0] ?? 32;
      log(`skeleton: ${LATENCY_RUNS} sequential, ${SKELETON_DISCONNECTS} with ${clients} clients…`);
      skeleton = await runSkeleton({
        sequential: LATENCY_RUNS,
        concurrent: SKELETON_DISCONNECTS,
        clients,
      });
      log(
        `skeleton CPU ms per disconnect (${clients} clients): ${Object.entries(
          skeleton.cpuMsPerDisconnect,
        )
          .map(([k, v]) => `${k} ${v.toFixed(2)}`)
          .join(', ')}`,
      );
    }

    process.stdout.write(
      `${formatTable(
        ['measure', 'p50 ms', 'p99 ms', 'n'],
        [
          ['disconnect via tRPC (end to end)', l.p50.toFixed(2), l.p99.toFixed(2), String(l.count)],
          [
            'floor: NATS request/reply',
            stats(natsRt).p50.toFixed(3),
            stats(natsRt).p99.toFixed(3),
            String(natsRt.length),
          ],
          [
            'floor: JetStream publish',
            stats(jsPub).p50.toFixed(3),
            stats(jsPub).p99.toFixed(3),
            String(jsPub.length),
          ],
          [
            'floor: Postgres single-row commit',
            stats(commit).p50.toFixed(3),
            stats(commit).p99.toFixed(3),
            String(commit.length),
          ],
          [
            `floor: ${SAGA_REQUESTS} req + ${SAGA_PUBLISHES} pub + ${SAGA_COMMITS} commits`,
            floorMs.toFixed(2),
            '',
            '',
          ],
          ...(skeleton
            ? [
                [
                  'skeleton: the same round trips, no work (sequential)',
                  skeleton.p50Ms.toFixed(2),
                  skeleton.p99Ms.toFixed(2),
                  String(LATENCY_RUNS),
                ],
              ]
            : []),
          [
            `mark ${STALE_ROWS} references stale (the step, request → reply)`,
            staleMarkMs.toFixed(1),
            '',
            String(staleRuns.length),
          ],
          [
            `bare UPDATE of the same rows (state stored per row)`,
            bareUpdateMs.toFixed(0),
            '',
            String(bareRuns.length),
          ],
        ],
      )}\n${throughputs
        .map(
          (t) =>
            `throughput with ${t.clients} concurrent clients: ${t.perSec.toFixed(1)} disconnects/s`,
        )
        .join('\n')}\n${
        skeleton
          ? `skeleton throughput with ${CONCURRENCIES[0] ?? 32} concurrent clients: ${skeleton.throughputPerSec.toFixed(1)} disconnects/s\n`
          : ''
      }${formatTable(
        ['process', 'idle RSS MB', 'peak RSS MB'],
        Object.entries(peak)
          .filter(([, v]) => v.peakRssMb > 0)
          .map(([k, v]) => [k, (idle[k]?.rssMb ?? 0).toFixed(0), v.peakRssMb.toFixed(0)]),
      )}\n`,
    );
    printResultLine({
      bench: 'disconnect',
      p50Ms: round(l.p50, 2),
      p99Ms: round(l.p99, 2),
      floorMs: round(floorMs, 2),
      ratioToFloor: round(l.p50 / floorMs, 2),
      throughputPerSec: round(throughput, 1),
      staleMarkMs: round(staleMarkMs, 1),
      bareUpdateMs: round(bareUpdateMs, 0),
      staleRatio: round(staleMarkMs / bareUpdateMs, 4),
      ...Object.fromEntries(
        throughputs.map((t) => [`throughput${t.clients}PerSec`, round(t.perSec, 1)]),
      ),
      ...(skeleton
        ? {
            skeletonP50Ms: round(skeleton.p50Ms, 2),
            skeletonRatioToFloor: round(skeleton.p50Ms / floorMs, 2),
            skeletonThroughputPerSec: round(skeleton.throughputPerSec, 1),
            throughputShareOfSkeleton: round(throughput / skeleton.throughputPerSec, 2),
          }
        : {}),
      maxIdleRssMb: round(Math.max(...Object.values(idle).map((v) => v.rssMb)), 0),
      maxPeakRssMb: round(Math.max(...Object.values(peak).map((v) => v.peakRssMb)), 0),
    });
  } finally {
    if (!stopped) {
      await admin.end();
      await nc.close();
      await stop();
    }
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
