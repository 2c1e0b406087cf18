// Messaging overhead: what the typed Bus + serveService cost on top of a bare NATS request/reply.
//   npm run bench:messaging            (BENCH_RUNS, BENCH_PER_RUN, BENCH_WARMUP override the plan)
// The last line printed is one JSON object: {"bench":"messaging","p50Ms","p99Ms","rawP50Ms","ratioP50"}.
import { cpus, totalmem } from 'node:os';
import { execFileSync } from 'node:child_process';
import type { NatsConnection } from 'nats';
import { requestContracts } from '@otesse/contracts';
import { createLogger } from '@otesse/logging';
import {
  Bus,
  connectNats,
  contextToHeaders,
  encodeJson,
  serveService,
  type TServiceHandle,
} from '@otesse/messaging';
import { NATS_SERVER_BIN, startNatsServer, type TTestNats } from '@otesse/testing';
import {
  formatTable,
  printResultLine,
  round,
  runCases,
  stats,
  type TCase,
  type TRunPlan,
  envInt,
} from './bench-utils';

const SUBJECT = 'audit.entries.list';
const RAW_SUBJECT = 'bench.raw.echo';
const ORG_ID = '00000000-0000-4000-8000-000000000001';
const TIMEOUT_MS = 5_000;

const plan: TRunPlan = {
  warmup: envInt('BENCH_WARMUP', 1_000),
  runs: envInt('BENCH_RUNS', 5),
  perRun: envInt('BENCH_PER_RUN', 2_000),
};

const contract = requestContracts[SUBJECT];
const requestInput = { orgId: ORG_ID };
const reply = { entries: [], nextCursor: null };
// The raw pair carries exactly the bytes the Bus puts on the wire, both ways.
const requestBytes = encodeJson(contract.request.parse(requestInput));
const replyBytes = encodeJson(contract.reply.parse(reply));

/** Mean µs of `fn` over `count` calls (in-process CPU cost, no I/O). */
function microMeanUs(count: number, fn: () => unknown): number {
  for (let i = 0; i < 1_000; i += 1) fn();
  const started = performance.now();
  for (let i = 0; i < count; i += 1) fn();
  return ((performance.now() - started) / count) * 1_000;
}

function natsServerVersion(): string {
  try {
    return execFileSync(NATS_SERVER_BIN, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  let nats: TTestNats | undefined;
  let serverNc: NatsConnection | undefined;
  let clientNc: NatsConnection | undefined;
  let svc: TServiceHandle | undefined;
  try {
    nats = await startNatsServer();
    // Service and client on their own connections, as two processes would be.
    serverNc = await connectNats({ url: nats.url, name: 'bench-service' });
    clientNc = await connectNats({ url: nats.url, name: 'bench-client' });
    svc = await serveService(serverNc, {
      name: 'audit',
      version: '0.0.0-bench',
      // Only the benchmarked subject: the prefix types the handler map, nothing else.
      prefix: 'audit.entries',
      logger: createLogger({ name: 'bench', level: 'silent' }),
      handlers: { [SUBJECT]: async () => reply },
    });
    serverNc.subscribe(RAW_SUBJECT, {
      callback: (err, msg) => {
        if (!err) msg.respond(replyBytes);
      },
    });
    await serverNc.flush();

    const bus = new Bus(clientNc, { timeoutMs: TIMEOUT_MS });
    const client = clientNc;
    const first = await bus.request(SUBJECT, requestInput);
    if (JSON.stringify(first) !== JSON.stringify(reply)) throw new Error('unexpected reply');

    const cases: TCase[] = [
      { name: 'bus', op: () => bus.request(SUBJECT, requestInput) },
      {
        name: 'raw',
        op: () => client.request(RAW_SUBJECT, requestBytes, { timeout: TIMEOUT_MS }),
      },
      // Diagnostics: where the difference goes.
      {
        name: 'raw -> service',
        op: () => client.request(SUBJECT, requestBytes, { timeout: TIMEOUT_MS }),
      },
      {
        name: 'raw + headers',
        op: () =>
          client.request(RAW_SUBJECT, requestBytes, {
            timeout: TIMEOUT_MS,
            headers: contextToHeaders(undefined),
          }),
      },
    ];
    const started = performance.now();
    const results = await runCases(cases, plan);
    const wallS = (performance.now() - started) / 1_000;

    // CPU cost per request of what the Bus and serveService do besides NATS (both sides of one request).
    const zodRequestUs = microMeanUs(20_000, () => contract.request.safeParse(requestInput));
    const zodReplyUs = microMeanUs(20_000, () => contract.reply.safeParse(reply));
    const headersUs = microMeanUs(20_000, () => contextToHeaders(undefined));

    const bus50 = stats(results.get('bus')?.all ?? []);
    const raw50 = stats(results.get('raw')?.all ?? []);
    const rows = cases.map((c) => {
      const r = results.get(c.name);
      const s = stats(r?.all ?? []);
      return [
        c.name,
        String(s.count),
        s.p50.toFixed(3),
        s.p90.toFixed(3),
        s.p99.toFixed(3),
        s.max.toFixed(2),
        s.mean.toFixed(3),
        (s.p50 / raw50.p50).toFixed(2),
        (r?.runP50s ?? []).map((x) => x.toFixed(3)).join(' '),
      ];
    });

    const cpu = cpus();
    console.log('messaging round trip (sequential request/reply, latencies in ms)');
    console.log(
      `machine: ${cpu.length} x ${cpu[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; ` +
        `node ${process.version}; ${natsServerVersion()}`,
    );
    console.log(
      `plan: warm-up ${plan.warmup}/case, ${plan.runs} runs x ${plan.perRun} requests/case ` +
        `(rotating order), ${wallS.toFixed(1)} s; payload ${requestBytes.length} B -> ${replyBytes.length} B`,
    );
    console.log('');
    console.log(
      formatTable(
        ['case', 'n', 'p50', 'p90', 'p99', 'max', 'mean', 'x raw p50', 'p50 per run'],
        rows,
      ),
    );
    console.log('');
    console.log(
      'bus             = Bus.request -> serveService endpoint (zod both sides, trace headers)',
    );
    console.log('raw             = nc.request -> nc.subscribe echo, same bytes, no headers');
    console.log('raw -> service  = nc.request (no headers) -> the serveService endpoint');
    console.log('raw + headers   = raw, plus the trace header the Bus sends');
    console.log(
      `in-process CPU per call: request zod ${zodRequestUs.toFixed(1)} µs, reply zod ` +
        `${zodReplyUs.toFixed(1)} µs (each runs on both sides), headers ${headersUs.toFixed(1)} µs`,
    );

    await svc.stop();
    svc = undefined;
    await clientNc.close();
    clientNc = undefined;
    await serverNc.close();
    serverNc = undefined;
    await nats.stop();
    nats = undefined;

    printResultLine({
      bench: 'messaging',
      p50Ms: round(bus50.p50),
      p99Ms: round(bus50.p99),
      rawP50Ms: round(raw50.p50),
      ratioP50: round(bus50.p50 / raw50.p50, 3),
    });
  } finally {
    await svc?.stop().catch(() => undefined);
    await clientNc?.close().catch(() => undefined);
    await serverNc?.close().catch(() => undefined);
    await nats?.stop().catch(() => undefined);
  }
}

await main();
