// npm run bench:webhooks — inbound webhook deliveries through the edge's public receiver (a provider's signed POST
// to 202: the endpoint resolved by the connection service, the signature checked by the vault, the event stored on
// JetStream, the delivery recorded against replays), against its floor measured in the same run: a bare HTTP POST to
// a server that answers 202 at once, plus the two NATS round trips, the JetStream publish and the two Postgres
// commits (the replay record's claim and its mark) the receiver needs. Latency one delivery at a time, then
// throughput with concurrent senders (and the bare HTTP server's, with as many).
//   BENCH_DELIVERIES (per round, default 200), BENCH_ROUNDS (5), BENCH_THROUGHPUT_DELIVERIES (2000),
//   BENCH_CONCURRENCY (32), BENCH_WARMUP (1000) override the plan; BENCH_PROFILE_DIR writes CPU profiles.
// The last line printed is one JSON object:
//   {"bench":"webhooks","p50Ms","p99Ms","floorMs","ratioToFloor","throughputPerSec","bareHttpPerSec",...}
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import { startBenchStack } from './bench-stack';
import { Bus, connectNats } from '@otesse/messaging';
import { builtinWebhookSignature, signWebhook } from '@otesse/providers';
import {
  formatTable,
  printResultLine,
  round,
  runCases,
  stats,
  envInt,
  profileEnv,
} from './bench-utils';

const PER_ROUND = envInt('BENCH_DELIVERIES', 200);
const ROUNDS = envInt('BENCH_ROUNDS', 5);
const THROUGHPUT_DELIVERIES = envInt('BENCH_THROUGHPUT_DELIVERIES', 2_000);
const CONCURRENCY = envInt('BENCH_CONCURRENCY', 32);
/** Calls of each case before any is measured: with 200, the receiver's p50 still fell round after round (JIT). */
const WARMUP = envInt('BENCH_WARMUP', 1_000);
/**
 * The receiver's path: resolve the endpoint, verify the signature (two requests), claim the delivery against
 * replays (a commit), publish the event, mark the claim published (a commit; since session 18).
 */
const RECEIVER_REQUESTS = 2;
const RECEIVER_PUBLISHES = 1;
const RECEIVER_COMMITS = 2;

const SECRET = 'bench-verifier-token-0123456789';
const scheme = builtinWebhookSignature('quickbooks');

/** A QuickBooks-like change notification, about 300 bytes; `n` makes each body (and so each stored event) new. */
const bodyOf = (n: number): string =>
  JSON.stringify({
    eventNotifications: [
      {
        realmId: '9130350000000000',
        dataChangeEvent: {
          entities: [
            {
              name: 'Customer',
              id: String(n),
              operation: 'Update',
              lastUpdated: new Date().toISOString(),
            },
            {
              name: 'Invoice',
              id: String(n + 1),
              operation: 'Create',
              lastUpdated: new Date().toISOString(),
            },
          ],
        },
      },
    ],
    n,
    nonce: randomUUID(),
  });

async function postSigned(url: string, body: string): Promise<number> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      [scheme.header]: signWebhook(scheme, SECRET, body, null),
    },
    body,
  });
  await res.arrayBuffer();
  return res.status;
}

/** Runs `total` operations with `concurrency` senders; deliveries a second. */
async function throughput(
  total: number,
  concurrency: number,
  op: (i: number) => Promise<void>,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < total; i = next++) await op(i);
    }),
  );
  return total / ((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  const { db, nats, stack, stop } = await startBenchStack(() => profileEnv());
  let bare: Server | undefined;
  const nc = await connectNats({ url: nats.url, name: 'bench-webhooks' });
  try {
    const bus = new Bus(nc, { timeoutMs: 30_000 });
    // An active QuickBooks connection gives its instance an enabled endpoint; its secret is set in the vault.
    const orgId = randomUUID();
    const { connection, instance } = await bus.request('connection.connections.create', {
      orgId,
      vendor: 'quickbooks',
      level: 'app',
      userId: randomUUID(),
      externalAccountId: 'u-alice',
      tenantId: 'acme',
    });
    await bus.request('connection.connections.activate', {
      orgId,
      connectionId: connection.id,
      eventId: randomUUID(),
    });
    await bus.request('vault.webhook-secrets.set', {
      orgId,
      instanceId: instance.id,
      vendor: 'quickbooks',
      secret: SECRET,
    });
    const url = `${stack.edgeUrl}/webhooks/quickbooks/${instance.id}`;
    let n = 0;
    const deliver = async (): Promise<void> => {
      const status = await postSigned(url, bodyOf((n += 2)));
      if (status !== 202) throw new Error(`delivery answered ${status}`);
    };

    // The floor's parts: a bare HTTP server answering 202 (same client, same body and headers), a NATS responder,
    // a JetStream stream.
    bare = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(202, { 'content-type': 'application/json' }).end('{}'));
    });
    await new Promise<void>((r) => bare!.listen(0, '127.0.0.1', r));
    const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/webhooks`;
    const bareDeliver = async (): Promise<void> => {
      const status = await postSigned(bareUrl, bodyOf((n += 2)));
      if (status !== 202) throw new Error(`bare server answered ${status}`);
    };
    const floorSub = nc.subscribe('bench.floor', { callback: (_e, m) => m.respond(m.data) });
    const payload = new TextEncoder().encode(bodyOf(0));
    await (
      await nc.jetstreamManager()
    ).streams.add({
      name: 'BENCHFLOOR',
      subjects: ['benchfloor.>'],
    });
    const js = nc.jetstream();
    await db.query('create table public.bench_floor (id uuid primary key, v jsonb)');

    const results = await runCases(
      [
        { name: 'delivery', op: deliver },
        { name: 'http', op: bareDeliver },
        { name: 'request', op: () => nc.request('bench.floor', payload, { timeout: 5_000 }) },
        // Where the time goes: the receiver's two requests, sent directly to the services.
        {
          name: 'resolve',
          op: () =>
            bus.request('connection.webhook-endpoints.resolve', {
              instanceId: instance.id,
              vendor: 'quickbooks',
            }),
        },
        {
          name: 'verify',
          op: () => {
            const body = bodyOf((n += 2));
            return bus.request('vault.webhook-signatures.verify', {
              orgId,
              instanceId: instance.id,
              vendor: 'quickbooks',
              bodyBase64: Buffer.from(body).toString('base64'),
              signature: signWebhook(scheme, SECRET, body, null),
              timestamp: null,
            });
          },
        },
        {
          name: 'publish',
          op: () => js.publish('benchfloor.x', payload, { msgID: randomUUID() }),
        },
        {
          name: 'commit',
          op: () =>
            db.query('insert into public.bench_floor values ($1, $2)', [randomUUID(), '{"a":1}']),
        },
      ],
      { warmup: WARMUP, runs: ROUNDS, perRun: PER_ROUND },
    );
    floorSub.unsubscribe();
    const s = (name: string) => stats(results.get(name)?.all ?? []);
    const d = s('delivery');
    const http = s('http');
    const req = s('request');
    const pub = s('publish');
    const commit = s('commit');
    const floorMs =
      http.p50 +
      RECEIVER_REQUESTS * req.p50 +
      RECEIVER_PUBLISHES * pub.p50 +
      RECEIVER_COMMITS * commit.p50;
    const runP50s = results.get('delivery')?.runP50s ?? [];

    // Throughput, alternating so drift does not favour one: the receiver, then the bare server, twice.
    const perSec: number[] = [];
    const barePerSec: number[] = [];
    for (let r = 0; r < 2; r += 1) {
      perSec.push(await throughput(THROUGHPUT_DELIVERIES / 2, CONCURRENCY, deliver));
      barePerSec.push(await throughput(THROUGHPUT_DELIVERIES / 2, CONCURRENCY, bareDeliver));
    }
    const throughputPerSec = perSec.reduce((a, b) => a + b, 0) / perSec.length;
    const bareHttpPerSec = barePerSec.reduce((a, b) => a + b, 0) / barePerSec.length;

    const row = (name: string, st: ReturnType<typeof stats>) => [
      name,
      st.p50.toFixed(3),
      st.p99.toFixed(3),
      String(st.count),
    ];
    console.log(
      `\nmachine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}; ${ROUNDS} rounds of ${PER_ROUND} after ${WARMUP} warm-up`,
    );
    console.log(
      formatTable(
        ['measure', 'p50 ms', 'p99 ms', 'n'],
        [
          row('delivery: signed POST → 202 (resolve, verify, claim, publish, mark)', d),
          row('floor: bare HTTP POST → 202', http),
          row('floor: NATS request/reply', req),
          row('floor: JetStream publish', pub),
          row('floor: Postgres single-row commit', commit),
          row('part: connection.webhook-endpoints.resolve (bus)', s('resolve')),
          row('part: vault.webhook-signatures.verify (bus)', s('verify')),
          [
            `floor: HTTP + ${RECEIVER_REQUESTS} req + ${RECEIVER_PUBLISHES} pub + ${RECEIVER_COMMITS} commits`,
            floorMs.toFixed(3),
            '',
            '',
          ],
        ],
      ),
    );
    console.log(`delivery p50 per round: ${runP50s.map((v) => v.toFixed(2)).join(', ')} ms`);
    console.log(
      `throughput with ${CONCURRENCY} senders: ${throughputPerSec.toFixed(0)} deliveries/s (runs ${perSec.map((v) => v.toFixed(0)).join(', ')}); bare HTTP server ${bareHttpPerSec.toFixed(0)}/s`,
    );
    printResultLine({
      bench: 'webhooks',
      p50Ms: round(d.p50, 3),
      p99Ms: round(d.p99, 3),
      floorMs: round(floorMs, 3),
      ratioToFloor: round(d.p50 / floorMs, 2),
      throughputPerSec: round(throughputPerSec, 1),
      bareHttpPerSec: round(bareHttpPerSec, 1),
      throughputRatio: round(bareHttpPerSec / throughputPerSec, 2),
      concurrency: CONCURRENCY,
    });
  } finally {
    bare?.close();
    await nc.close().catch(() => undefined);
    await stop();
  }
}

await main();
