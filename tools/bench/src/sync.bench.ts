// Sync throughput and claim latency: one execution of the real scheduler (a process, as deployed) reading the fake
// provider's pages over HTTP into Postgres, against a bare multi-row INSERT of the same rows in the same run; and the
// claim latency of a replica draining 10,000 due jobs.
//   npm run bench:sync        (BENCH_RECORDS, BENCH_ROUNDS, BENCH_PAGE_SIZE, BENCH_CLAIM_JOBS override the plan)
// The last line printed is one JSON object:
//   {"bench":"sync","recordsPerSec","bareRecordsPerSec","ratio","claimP50Ms"}   (ratio = bare ÷ sync; target ≤ 2)
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Bus, connectNats } from '@otesse/messaging';
import {
  startFakeProvider,
  writeFakeProvidersFile,
  type TFakeProvider,
} from '@otesse/fake-provider';
import {
  createTestDatabase,
  startNatsServer,
  startStack,
  waitFor,
  type TStack,
  type TTestDatabase,
  type TTestNats,
} from '@otesse/testing';
import { formatTable, printResultLine, round, stats, envInt } from './bench-utils';

const RECORDS = envInt('BENCH_RECORDS', 20_000);
const ROUNDS = envInt('BENCH_ROUNDS', 5);
const PAGE_SIZE = Math.min(1_000, envInt('BENCH_PAGE_SIZE', 1_000));
const CLAIM_JOBS = envInt('BENCH_CLAIM_JOBS', 10_000);

interface TConnected {
  orgId: string;
  instanceId: string;
  connectionId: string;
}

interface TExecution {
  status: string;
  started_at: Date;
  completed_at: Date | null;
  records_written: number;
  batches: number;
  fetch_ms: number;
  write_ms: number;
}

async function main(): Promise<void> {
  let db: TTestDatabase | undefined;
  let nats: TTestNats | undefined;
  let fake: TFakeProvider | undefined;
  let stack: TStack | undefined;
  let nc: Awaited<ReturnType<typeof connectNats>> | undefined;
  let pool: pg.Pool | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'otesse-bench-sync-'));
  try {
    [db, nats, fake] = await Promise.all([
      createTestDatabase('otesse_bench'),
      startNatsServer(),
      startFakeProvider({ port: 0 }),
    ]);
    const providersFile = writeFakeProvidersFile(fake.url, join(dir, 'providers.json'));
    const started = performance.now();
    stack = await startStack(
      {
        databaseUrlFor: (s) => db!.urlFor(s),
        natsUrl: nats.url,
        providersFile,
        envFor: (s): Record<string, string> =>
          s === 'sync-scheduler'
            ? {
                SYNC_PAGE_SIZE: String(PAGE_SIZE),
                SYNC_TICK_MS: '50',
                SYNC_CLAIM_BATCH: '10',
                SYNC_CONCURRENCY: '16',
              }
            : {},
      },
      ['credential-vault', 'connection', 'sync-scheduler'],
    );
    console.error(`stack ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    nc = await connectNats({ url: nats.url, name: 'bench-sync' });
    const bus = new Bus(nc, { timeoutMs: 30_000 });
    // The service's own role: the bare INSERT runs with the same rights, into the same table.
    pool = new pg.Pool({ connectionString: db.urlFor('sync-scheduler'), max: 2 });
    const q = async <R extends pg.QueryResultRow>(sql: string, params: unknown[] = []) =>
      (await pool!.query<R>(sql, params)).rows;

    const connect = async (): Promise<TConnected> => {
      const orgId = randomUUID();
      const { connection, instance } = await bus.request('connection.connections.create', {
        orgId,
        vendor: 'google',
        level: 'app',
        userId: randomUUID(),
        externalAccountId: 'u-alice',
        tenantId: 'acme',
      });
      const user = fake!.state.findUser('u-alice');
      if (!user) throw new Error('fake provider has no u-alice');
      const { access } = fake!.state.issueTokens({
        clientId: 'otesse-dev-google',
        user,
        instance: undefined,
        scope: 'read',
        familyId: randomUUID(),
      });
      await bus.request('vault.credentials.store', {
        orgId,
        connectionId: connection.id,
        vendor: 'google',
        credentials: [
          {
            kind: 'access_token',
            value: access.token,
            expiresAt: new Date(access.expiresAt).toISOString(),
          },
        ],
      });
      await bus.request('connection.connections.activate', {
        orgId,
        connectionId: connection.id,
        eventId: randomUUID(),
      });
      return { orgId, instanceId: instance.id, connectionId: connection.id };
    };

    // --- 1. Claim latency: one replica drains CLAIM_JOBS due jobs (their connections do not exist: each execution
    // ends `skipped` after one connection lookup, so the claims, not the syncs, set the pace).
    const claimStart = performance.now();
    await q(
      `insert into sync.sync_job (org_id, instance_id, connection_id, vendor, resource, schedule, next_run_at)
       select o, i, c, 'google', r, '{"kind":"interval","everySeconds":3600}', now() - random() * interval '1 minute'
         from (select gen_random_uuid() as o, gen_random_uuid() as i, gen_random_uuid() as c
                 from generate_series(1, ceil($1::numeric / 3)::int)) conns
        cross join unnest(array['contacts', 'invoices', 'tickets']) as r
        limit $1`,
      [CLAIM_JOBS],
    );
    await q('analyze sync.sync_job');
    await waitFor(
      async () => {
        const [row] = await q<{ n: string }>(
          `select count(*) as n from sync.sync_execution where status <> 'running'`,
        );
        return Number(row?.n) >= CLAIM_JOBS;
      },
      { timeoutMs: 600_000, intervalMs: 200, what: `${CLAIM_JOBS} executions` },
    );
    const drainS = (performance.now() - claimStart) / 1000;
    const engine = await bus.request('sync-scheduler.engine.stats', {});
    const claimP50Ms = engine.claims.p50Ms ?? NaN;

    // --- 2. Throughput: one execution of RECORDS contacts per round (a fresh instance each time: inserts), then the
    // same rows with a bare multi-row INSERT into the same table (fresh instance id, same batch size, one
    // transaction per batch), alternating so drift does not favour one.
    fake.state.applyConfig({ dataCounts: { contacts: RECORDS }, pageDelayMs: 0 });
    const syncRates: number[] = [];
    const bareRates: number[] = [];
    const detail: string[][] = [];
    // Warm-up: one small run (JIT, connection pools, tsx caches) not counted.
    for (let round = -1; round < ROUNDS; round += 1) {
      const warm = round < 0;
      fake.state.applyConfig({ dataCounts: { contacts: warm ? 2_000 : RECORDS } });
      const c = await connect();
      const [job] = await q<{ id: string }>(
        `insert into sync.sync_job (org_id, instance_id, connection_id, vendor, resource, schedule)
         values ($1, $2, $3, 'google', 'contacts', '{"kind":"interval","everySeconds":3600}') returning id`,
        [c.orgId, c.instanceId, c.connectionId],
      );
      await bus.request('sync-scheduler.jobs.run-now', { orgId: c.orgId, jobId: job!.id });
      const exec = await waitFor(
        async () => {
          const [e] = await q<TExecution>(
            `select status, started_at, completed_at, records_written, batches, fetch_ms, write_ms
               from sync.sync_execution where job_id = $1`,
            [job!.id],
          );
          return e && e.status !== 'running' ? e : undefined;
        },
        { timeoutMs: 600_000, intervalMs: 20, what: 'the sync execution' },
      );
      if (exec.status !== 'succeeded') throw new Error(`execution ended ${exec.status}`);
      const syncMs = exec.completed_at!.getTime() - exec.started_at.getTime();

      // The same rows, as the sync stored them.
      const rows = await q<{ external_id: string; data: unknown }>(
        `select external_id, data from sync.synced_record where instance_id = $1 order by external_id`,
        [c.instanceId],
      );
      const bareInstance = randomUUID();
      const client = await pool.connect();
      const bareStart = performance.now();
      try {
        for (let i = 0; i < rows.length; i += PAGE_SIZE) {
          const batch = rows.slice(i, i + PAGE_SIZE);
          const params: unknown[] = [c.orgId, bareInstance, c.connectionId];
          const values = batch.map((r, k) => {
            params.push(r.external_id, JSON.stringify(r.data));
            return `($1, $2, 'contacts', $${4 + 2 * k}, $${5 + 2 * k}::jsonb, now(), $3)`;
          });
          const sql =
            'insert into sync.synced_record (org_id, instance_id, resource, external_id, data, synced_at, ' +
            `source_connection_id) values ${values.join(', ')}`;
          await client.query('begin');
          await client.query(sql, params);
          await client.query('commit');
        }
      } finally {
        client.release();
      }
      const bareMs = performance.now() - bareStart;
      if (warm) continue;
      const syncRate = (exec.records_written / syncMs) * 1000;
      const bareRate = (rows.length / bareMs) * 1000;
      syncRates.push(syncRate);
      bareRates.push(bareRate);
      detail.push([
        String(round + 1),
        String(exec.records_written),
        String(exec.batches),
        syncMs.toFixed(0),
        String(exec.fetch_ms),
        String(exec.write_ms),
        syncRate.toFixed(0),
        bareMs.toFixed(0),
        bareRate.toFixed(0),
        (bareRate / syncRate).toFixed(2),
      ]);
    }

    const recordsPerSec = stats(syncRates).p50;
    const bareRecordsPerSec = stats(bareRates).p50;
    const ratio = bareRecordsPerSec / recordsPerSec;
    const cpu = cpus();
    console.log(
      'sync: one execution (fake provider over HTTP -> Postgres) vs a bare multi-row INSERT',
    );
    console.log(
      `machine: ${cpu.length} x ${cpu[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; node ${process.version}`,
    );
    console.log(
      `plan: ${ROUNDS} rounds x ${RECORDS} contacts, pages of ${PAGE_SIZE} (one transaction each); claims: ${CLAIM_JOBS} due jobs`,
    );
    console.log('');
    console.log(
      formatTable(
        [
          'round',
          'records',
          'batches',
          'sync ms',
          'fetch ms',
          'write ms',
          'sync rec/s',
          'bare ms',
          'bare rec/s',
          'bare/sync',
        ],
        detail,
      ),
    );
    console.log('');
    console.log(
      `claims: ${engine.claims.count} claims took ${engine.claims.jobsClaimed} jobs while draining ` +
        `${CLAIM_JOBS} due jobs in ${drainS.toFixed(1)} s; claim p50 ${claimP50Ms.toFixed(2)} ms, ` +
        `p99 ${(engine.claims.p99Ms ?? NaN).toFixed(2)} ms`,
    );
    console.log(
      'fetch ms = time waiting for pages (overlaps writing: the next page is prefetched); write ms = batch transactions',
    );
    printResultLine({
      bench: 'sync',
      recordsPerSec: round(recordsPerSec, 0),
      bareRecordsPerSec: round(bareRecordsPerSec, 0),
      ratio: round(ratio, 3),
      claimP50Ms: round(claimP50Ms, 3),
    });
  } finally {
    await pool?.end().catch(() => undefined);
    await nc?.close().catch(() => undefined);
    await stack?.stop().catch(() => undefined);
    await fake?.close().catch(() => undefined);
    await nats?.stop().catch(() => undefined);
    await db?.drop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
