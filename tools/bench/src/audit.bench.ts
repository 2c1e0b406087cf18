// Audit service: ingestion rate through the real path (JetStream durable consumer -> batched hash-chain append
// in Postgres) and first-page list latency over NATS with 1,000,000 entries in one org.
//   npm run bench:audit
//   BENCH_AUDIT_EVENTS (50000), BENCH_AUDIT_ORGS (20), BENCH_AUDIT_ROWS (1000000), BENCH_RUNS (5),
//   BENCH_PER_RUN (200), BENCH_WARMUP (200) override the plan.
// The audit service runs as its own process (apps/audit/src/main.ts, as deployed) on a fresh database and a
// private nats-server. The last line printed is one JSON object:
//   {"bench":"audit","entriesPerSec","listFirstPageP50Ms"}.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import type { NatsConnection } from 'nats';
import { Bus, connectNats, EventPublisher, ensureStreams } from '@otesse/messaging';
import {
  createTestDatabase,
  startNatsServer,
  startStack,
  type TStack,
  type TTestDatabase,
  type TTestNats,
} from '@otesse/testing';
import {
  formatTable,
  printResultLine,
  round,
  runCases,
  stats,
  type TCase,
  envInt,
} from './bench-utils';

const EVENTS = envInt('BENCH_AUDIT_EVENTS', 50_000);
const ORGS = envInt('BENCH_AUDIT_ORGS', 20);
const ROWS = envInt('BENCH_AUDIT_ROWS', 1_000_000);
const plan = {
  warmup: envInt('BENCH_WARMUP', 200),
  runs: envInt('BENCH_RUNS', 5),
  perRun: envInt('BENCH_PER_RUN', 200),
};
const BIG_ORG = randomUUID();
const ACTORS = Array.from({ length: 10 }, () => randomUUID());
/** Acts once in 10,000 entries of the big org (as does provider `zendesk`): a filter that matches little. */
const RARE_ACTOR = randomUUID();
const ACTIONS = [
  'connection.connected',
  'connection.disconnected',
  'sync_job.enabled',
  'sync_job.disabled',
  'sync_job.run_requested',
] as const;
const PROVIDERS = ['servicenow', 'confluence', 'postmark'];

const say = (line = ''): void => console.log(line);
const seconds = (ms: number): string => `${(ms / 1_000).toFixed(1)} s`;

/**
 * 1,000,000 entries in one org, set-based as the superuser. Their hashes are placeholders, NOT a valid chain
 * (computing one means hashing a million links in order); listing never reads them, so the latency is the same.
 */
async function seedBigOrg(db: TTestDatabase): Promise<number> {
  const started = performance.now();
  // Bulk load: the plain (non-constraint) indexes are dropped and rebuilt from their own definitions.
  const plain = await db.query<{ name: string; def: string }>(
    `select indexname as name, indexdef as def from pg_indexes i
     where schemaname = 'audit' and tablename = 'audit_entry'
       and not exists (select 1 from pg_constraint c where c.conname = i.indexname)`,
  );
  for (const i of plain) await db.query(`drop index audit."${i.name}"`);
  await db.query(
    `insert into audit.audit_entry (id, seq, org_id, event_id, actor_user_id, on_behalf_of_user_id, action,
       provider, targets, outcome, details, occurred_at, recorded_at, ip, trace_id, hash, prev_hash)
     select gen_random_uuid(), g, $1::uuid, gen_random_uuid(),
       case when g % 10000 = 7 then $6::uuid else ($2::uuid[])[1 + g % 10] end, null,
       ($3::text[])[1 + g % 5], case when g % 10000 = 3 then 'zendesk' else ($4::text[])[1 + g % 3] end,
       jsonb_build_object('connectionId', gen_random_uuid()), 'success',
       jsonb_build_object('syncJobsDisabled', g % 4, 'credentialsDeleted', 2, 'revocationSucceeded', g % 2 = 0),
       timestamptz '2025-01-01' + g * interval '1 second', timestamptz '2025-01-01' + g * interval '1 second',
       '198.51.100.1', md5(g::text), md5(g::text) || md5((g + 1)::text),
       case when g = 1 then null else md5((g - 1)::text) || md5(g::text) end
     from generate_series(1, $5::int) as g`,
    [BIG_ORG, ACTORS, ACTIONS, PROVIDERS, ROWS, RARE_ACTOR],
  );
  await db.query(
    `insert into audit.chain_head (org_id, seq, hash)
     values ($1, $2::int, md5($2::int::text) || md5(($2::int + 1)::text))`,
    [BIG_ORG, ROWS],
  );
  for (const i of plain) await db.query(i.def);
  // As autovacuum would soon on an insert-only table: visibility map for index-only scans, statistics.
  await db.query('vacuum analyze audit.audit_entry');
  return performance.now() - started;
}

/** EVENTS events over ORGS orgs, published (and acked by JetStream) while the audit service is not running. */
const ORG_IDS = Array.from({ length: ORGS }, () => randomUUID());

async function publishBacklog(nc: NatsConnection): Promise<number> {
  const pub = new EventPublisher(nc);
  const orgs = ORG_IDS;
  const started = performance.now();
  const WINDOW = 500;
  for (let i = 0; i < EVENTS; i += WINDOW) {
    await Promise.all(
      Array.from({ length: Math.min(WINDOW, EVENTS - i) }, (_, k) => {
        const n = i + k;
        const eventId = randomUUID();
        return pub.publish(
          'audit.entries.append',
          {
            eventId,
            orgId: orgs[n % ORGS]!,
            actorUserId: ACTORS[n % 10]!,
            onBehalfOfUserId: ACTORS[(n + 1) % 10]!,
            action: ACTIONS[n % 5]!,
            provider: PROVIDERS[n % 3]!,
            targets: { connectionId: randomUUID(), sagaId: randomUUID() },
            outcome: 'success',
            details: {
              revocationSucceeded: n % 2 === 0,
              syncJobsDisabled: n % 4,
              credentialsDeleted: 2,
              warnings: [],
            },
            occurredAt: new Date().toISOString(),
            ip: '203.0.113.7',
            traceId: eventId.replaceAll('-', ''),
          },
          { msgId: eventId, timeoutMs: 30_000 },
        );
      }),
    );
  }
  return performance.now() - started;
}

/** CPU seconds (user + system) a process has used so far; 0 once it is gone. Linux /proc, 100 ticks/s. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** The audit service's Postgres backends (its runtime role's sessions on the bench database). */
async function auditBackends(db: TTestDatabase): Promise<number[]> {
  const rows = await db.query<{ pid: number }>(
    `select pid from pg_stat_activity where datname = $1 and usename = 'otesse_audit'`,
    [db.name],
  );
  return rows.map((r) => r.pid);
}

/** Entries written for the ingested orgs: their chain heads' positions (chains are gap-free), a 20-row read
 * (counting a million-row table every 50 ms would load the very machine being measured). */
async function countEntries(db: TTestDatabase): Promise<number> {
  const [r] = await db.query<{ n: string | null }>(
    'select sum(seq) as n from audit.chain_head where org_id = any($1::uuid[])',
    [ORG_IDS],
  );
  return Number(r?.n ?? 0);
}

async function main(): Promise<void> {
  let db: TTestDatabase | undefined;
  let nats: TTestNats | undefined;
  let nc: NatsConnection | undefined;
  let stack: TStack | undefined;
  try {
    [db, nats] = await Promise.all([createTestDatabase('otesse_audit_bench'), startNatsServer()]);
    const database = db;
    nc = await connectNats({ url: nats.url, name: 'bench-client' });
    await ensureStreams(nc, ['AUDIT']);
    const cpu = cpus();
    say('audit service benchmark');
    say(
      `machine: ${cpu.length} x ${cpu[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; ` +
        `node ${process.version}`,
    );

    // The schema first (the service migrates on start), then the million rows, then the backlog.
    stack = await startStack(
      {
        databaseUrlFor: (s) => database.urlFor(s),
        migrationsDatabaseUrlFor: (s) => database.migrationsUrlFor(s),
        natsUrl: nats.url,
      },
      ['audit'],
    );
    await stack.kill('audit', 'SIGTERM');
    const seedMs = await seedBigOrg(database);
    say(`seeded ${ROWS.toLocaleString('en')} entries in one org in ${seconds(seedMs)}`);
    const publishMs = await publishBacklog(nc);
    say(
      `published ${EVENTS.toLocaleString('en')} events over ${ORGS} orgs in ${seconds(publishMs)} ` +
        `(${Math.round(EVENTS / (publishMs / 1_000))}/s, audit service stopped)`,
    );

    // Ingestion: the service starts on a backlog; the rate counts what it wrote after it was ready.
    const loadBefore = loadavg()[0] ?? 0;
    const proc = await stack.start('audit');
    const t0 = performance.now();
    const c0 = await countEntries(database);
    const auditPid = proc.child.proc.pid;
    const auditCpu0 = cpuSeconds(auditPid);
    const pgCpu0 = new Map((await auditBackends(database)).map((p) => [p, cpuSeconds(p)]));
    let written = c0;
    while (written < EVENTS) {
      await new Promise((r) => setTimeout(r, 50));
      written = await countEntries(database);
      if (performance.now() - t0 > 300_000) throw new Error(`only ${written} entries after 5 min`);
    }
    const ingestMs = performance.now() - t0;
    const entriesPerSec = (EVENTS - c0) / (ingestMs / 1_000);
    const auditCpu = cpuSeconds(auditPid) - auditCpu0;
    let pgCpu = 0;
    for (const p of await auditBackends(database)) pgCpu += cpuSeconds(p) - (pgCpu0.get(p) ?? 0);
    const loadAfter = loadavg()[0] ?? 0;
    const [span] = await database.query<{ batches: string; ms: string }>(
      `select count(distinct recorded_at) as batches,
              extract(epoch from max(recorded_at) - min(recorded_at)) * 1000 as ms
       from audit.audit_entry where org_id <> $1`,
      [BIG_ORG],
    );
    const [dupes] = await database.query<{ n: string }>(
      'select count(*) - count(distinct event_id) as n from audit.audit_entry',
    );
    say(
      `ingested ${(EVENTS - c0).toLocaleString('en')} entries in ${seconds(ingestMs)} after ready ` +
        `(${c0} before): ${Math.round(entriesPerSec)} entries/s; ${span?.batches} transactions, ` +
        `first to last commit ${seconds(Number(span?.ms))}; duplicates: ${dupes?.n}`,
    );
    const per1000 = (cpuS: number): string => `${((cpuS / (EVENTS - c0)) * 1e6).toFixed(0)} ms`;
    say(
      `CPU per 1,000 entries: audit process ${per1000(auditCpu)}, its Postgres backends ` +
        `${per1000(pgCpu)} (1-min load average ${loadBefore.toFixed(1)} -> ${loadAfter.toFixed(1)} ` +
        `on ${cpu.length} cores while ingesting)`,
    );

    // Verification: every ingested org's chain, walked and rehashed.
    const verifyBus = new Bus(nc, { timeoutMs: 120_000 });
    const v0 = performance.now();
    let verified = 0;
    for (const orgId of ORG_IDS) {
      const v = await verifyBus.request('audit.chain.verify', { orgId });
      if (!v.ok) throw new Error(`chain of ${orgId} broken at ${v.firstBrokenSeq}: ${v.reason}`);
      verified += v.checked;
    }
    const verifyMs = performance.now() - v0;
    say(
      `verified ${ORGS} chains (${verified.toLocaleString('en')} entries) in ${seconds(verifyMs)}: ` +
        `${Math.round(verified / (verifyMs / 1_000))} entries/s`,
    );

    // List latency: the dashboard's first page, over NATS (Bus -> audit service -> Postgres and back).
    const bus = new Bus(nc, { timeoutMs: 10_000 });
    const firstPage = await bus.request('audit.entries.list', { orgId: BIG_ORG, limit: 50 });
    if (firstPage.entries[0]?.seq !== ROWS || firstPage.entries.length !== 50)
      throw new Error('unexpected first page');
    const lastHour = new Date(
      Date.parse('2025-01-01T00:00:00Z') + (ROWS - 3_600) * 1_000,
    ).toISOString();
    const list =
      (filters: Record<string, string> = {}, limit = 50) =>
      () =>
        bus.request('audit.entries.list', { orgId: BIG_ORG, filters, limit });
    const cases: TCase[] = [
      { name: 'first page (50)', op: list() },
      {
        name: 'second page (50)',
        op: () =>
          bus.request('audit.entries.list', {
            orgId: BIG_ORG,
            limit: 50,
            cursor: firstPage.nextCursor,
          }),
      },
      { name: 'action filter', op: list({ action: 'sync_job.disabled' }) },
      { name: 'provider filter', op: list({ provider: 'postmark' }) },
      { name: 'actor filter', op: list({ actorUserId: ACTORS[3]! }) },
      { name: 'rare actor', op: list({ actorUserId: RARE_ACTOR }) },
      { name: 'rare provider', op: list({ provider: 'zendesk' }) },
      {
        name: 'time range (old day)',
        op: list({ from: '2025-01-02T00:00:00Z', to: '2025-01-03T00:00:00Z' }),
      },
      { name: 'time range (last hour)', op: list({ from: lastHour }) },
    ];
    const results = await runCases(cases, plan);
    // An export page (1,000 entries, ~600 KB) costs far more: fewer rounds.
    const exportCase: TCase = { name: 'export page (1000)', op: list({}, 1_000) };
    const exportResults = await runCases([exportCase], {
      warmup: 5,
      runs: plan.runs,
      perRun: Math.max(5, Math.round(plan.perRun / 20)),
    });
    for (const [k, v] of exportResults) results.set(k, v);
    cases.push(exportCase);
    const rows = cases.map((c) => {
      const s = stats(results.get(c.name)?.all ?? []);
      return [
        c.name,
        String(s.count),
        s.p50.toFixed(2),
        s.p90.toFixed(2),
        s.p99.toFixed(2),
        s.max.toFixed(1),
      ];
    });
    say();
    say(`list latency over NATS, ${ROWS.toLocaleString('en')} entries in the org (ms)`);
    say(formatTable(['case', 'n', 'p50', 'p90', 'p99', 'max'], rows));
    const listFirstPageP50Ms = stats(results.get('first page (50)')?.all ?? []).p50;

    await stack.stop();
    stack = undefined;
    say();
    printResultLine({
      bench: 'audit',
      entriesPerSec: Math.round(entriesPerSec),
      listFirstPageP50Ms: round(listFirstPageP50Ms, 3),
    });
  } finally {
    await stack?.stop().catch(() => undefined);
    await nc?.close().catch(() => undefined);
    await nats?.stop().catch(() => undefined);
    await db?.drop().catch(() => undefined);
  }
}

await main();
