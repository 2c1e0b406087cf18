// The unlink saga's pivot at scale: `sync-scheduler.instances.erase-data` (the real scheduler, a process, request to
// reply) erasing an instance's synced records and references, against the bare DELETEs of the same rows in the same
// run (same tables, same tally triggers, the service's own role), each on freshly seeded rows, alternated.
//   npm run bench:unlink      (BENCH_ROWS, BENCH_ROUNDS override the plan)
// The last line printed is one JSON object:
//   {"bench":"unlink","rows","eraseMs","bareDeleteMs","ratio"}   (medians; ratio = erase ÷ bare)
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { writeFakeProvidersFile } from '@otesse/fake-provider';
import { Bus, connectNats } from '@otesse/messaging';
import {
  createTestDatabase,
  startNatsServer,
  startStack,
  type TStack,
  type TTestDatabase,
  type TTestNats,
} from '@otesse/testing';
import { envInt, formatTable, percentile, printResultLine, round } from './bench-utils';

const ROWS = envInt('BENCH_ROWS', 1_000_000);
const ROUNDS = envInt('BENCH_ROUNDS', 3);
const ms = (x: number): string => `${Math.round(x)}`;

async function main(): Promise<void> {
  let db: TTestDatabase | undefined;
  let nats: TTestNats | undefined;
  let stack: TStack | undefined;
  let nc: Awaited<ReturnType<typeof connectNats>> | undefined;
  let pool: pg.Pool | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'otesse-bench-unlink-'));
  try {
    [db, nats] = await Promise.all([createTestDatabase('otesse_bench'), startNatsServer()]);
    stack = await startStack(
      {
        databaseUrlFor: (s) => db!.urlFor(s),
        natsUrl: nats.url,
        // No provider is called: the scheduler only needs a catalogue to start.
        providersFile: writeFakeProvidersFile('http://127.0.0.1:9', join(dir, 'providers.json')),
        envFor: (s): Record<string, string> =>
          s === 'sync-scheduler' ? { SYNC_ENGINE: 'false' } : {},
      },
      ['sync-scheduler'],
    );
    nc = await connectNats({ url: nats.url, name: 'bench-unlink' });
    const bus = new Bus(nc, { timeoutMs: 600_000 });
    pool = new pg.Pool({ connectionString: db.urlFor('sync-scheduler'), max: 2 });
    const q = async (sql: string, params: unknown[] = []) => (await pool!.query(sql, params)).rows;

    // One instance of one org: its records and references over the three resources, as syncs leave them.
    const seed = async (orgId: string, instanceId: string): Promise<void> => {
      const connectionId = randomUUID();
      await q(
        `with rows as (
           select gen_random_uuid() as rid, g, (array['contacts','invoices','tickets'])[1 + g % 3] as resource
             from generate_series(1, $4::int) g),
         recs as (
           insert into sync.synced_record (id, org_id, instance_id, resource, external_id, data, synced_at, source_connection_id)
           select rid, $1, $2, resource, 'x-' || g, jsonb_build_object('name', 'Record ' || g), now(), $3 from rows
           returning id, external_id, resource)
         insert into sync.external_reference (org_id, instance_id, connection_id, resource, external_id, local_record_id, last_synced_at)
         select $1, $2, $3, resource, external_id, id, now() from recs`,
        [orgId, instanceId, connectionId, ROWS],
      );
      await q(`vacuum analyze sync.synced_record`);
      await q(`vacuum analyze sync.external_reference`);
    };
    // A neighbour whose rows stay: the deletes must find the instance's rows among others'.
    await seed(randomUUID(), randomUUID());

    const erase: number[] = [];
    const bare: number[] = [];
    for (let round_ = 0; round_ < ROUNDS; round_ += 1) {
      for (const which of round_ % 2 === 0 ? ['erase', 'bare'] : ['bare', 'erase']) {
        const orgId = randomUUID();
        const instanceId = randomUUID();
        await seed(orgId, instanceId);
        const started = performance.now();
        if (which === 'erase') {
          const r = await bus.request('sync-scheduler.instances.erase-data', {
            orgId,
            instanceId,
            idempotencyKey: `${randomUUID()}:erase-data`,
          });
          if (r.recordsErased !== ROWS || r.referencesErased !== ROWS)
            throw new Error(`erased ${r.recordsErased}/${r.referencesErased} of ${ROWS}`);
          erase.push(performance.now() - started);
        } else {
          const client = await pool.connect();
          try {
            await client.query('begin');
            await client.query(
              `delete from sync.external_reference where org_id = $1 and instance_id = $2`,
              [orgId, instanceId],
            );
            await client.query(
              `delete from sync.synced_record where org_id = $1 and instance_id = $2`,
              [orgId, instanceId],
            );
            await client.query('commit');
          } finally {
            client.release();
          }
          bare.push(performance.now() - started);
        }
        console.error(
          `  round ${round_ + 1} ${which}: ${round(performance.now() - started, 0)} ms`,
        );
      }
    }
    const eraseMs = percentile(erase, 50);
    const bareMs = percentile(bare, 50);
    console.log(
      `\n${ROWS} records and ${ROWS} references of one instance, ${ROUNDS} runs each, ${cpus().length} cores`,
    );
    console.log(
      formatTable(
        ['measure', 'p50 ms', 'p99 ms', 'n'],
        [
          [
            'erase-data (request → reply)',
            ms(eraseMs),
            ms(percentile(erase, 99)),
            `${erase.length}`,
          ],
          ['bare DELETEs of the same rows', ms(bareMs), ms(percentile(bare, 99)), `${bare.length}`],
        ],
      ),
    );
    printResultLine({
      bench: 'unlink',
      rows: ROWS,
      eraseMs: round(eraseMs, 0),
      bareDeleteMs: round(bareMs, 0),
      ratio: round(eraseMs / bareMs, 3),
    });
  } finally {
    await nc?.close().catch(() => undefined);
    await pool?.end().catch(() => undefined);
    await stack?.stop().catch(() => undefined);
    await nats?.stop().catch(() => undefined);
    await db?.drop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
