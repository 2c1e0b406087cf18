/**
 * One process of the disconnect skeleton (`run-skeleton.ts`): the message pattern a disconnect needs in this
 * architecture — the edge's HTTP call, its saga log commits, the NATS requests to separate services, each service's
 * one-statement commit, the provider's two revocation calls, the JetStream publishes and the audit consumer's write —
 * with nothing else: no validation, no logging, no telemetry, no business logic. What it sustains on this machine is
 * the ceiling any implementation of that pattern can reach here.
 *
 * argv: role (edge | vault | connection | scheduler | audit), then a JSON config.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import pg from 'pg';
import { AckPolicy, connect, JSONCodec, type NatsConnection } from 'nats';
import { request as httpRequest } from 'undici';

interface TConfig {
  dbUrl: string;
  natsUrl: string;
  providerUrl: string;
  stream: string;
}

const [role, raw] = process.argv.slice(2);
if (!role || !raw) throw new Error('usage: skeleton-process <role> <config json>');
const cfg = JSON.parse(raw) as TConfig;
const codec = JSONCodec<Record<string, unknown>>();
const pool = new pg.Pool({ connectionString: cfg.dbUrl, max: 10 });

/** One single-statement commit on the role's own table (the shape of every command's transaction). */
async function commit(table: string, id: string, payload: Record<string, unknown>): Promise<void> {
  await pool.query({
    name: `upsert_${table}`,
    text: `insert into ${table} (id, body, n) values ($1, $2, 1)
           on conflict (id) do update set body = excluded.body, n = ${table}.n + 1`,
    values: [id, JSON.stringify(payload)],
  });
}

/** A service answering its subjects: each request is one commit, then a reply. */
async function serve(nc: NatsConnection, name: string, verbs: string[]): Promise<void> {
  for (const verb of verbs) {
    const sub = nc.subscribe(`skel.${name}.${verb}`, { queue: name });
    void (async () => {
      for await (const m of sub) {
        const req = codec.decode(m.data);
        const id = String(req['id']);
        if (name === 'vault' && verb === 'revoke') {
          // Claim, revoke both tokens at the provider (separately), record the report.
          await commit(`skel_${name}`, id, { claimed: true });
          for (const kind of ['refresh', 'access']) {
            const res = await httpRequest(`${cfg.providerUrl}/revoke`, {
              method: 'POST',
              headers: { 'content-type': 'application/x-www-form-urlencoded' },
              body: `token=${kind}-${id}&token_type_hint=${kind}_token`,
            });
            await res.body.arrayBuffer();
          }
        }
        await commit(`skel_${name}`, id, { verb, ...req });
        m.respond(codec.encode({ ok: true, id, verb, count: 3 }));
      }
    })();
  }
  await nc.flush();
}

async function auditConsumer(nc: NatsConnection): Promise<void> {
  const jsm = await nc.jetstreamManager();
  await jsm.consumers.add(cfg.stream, {
    durable_name: 'skel-audit',
    ack_policy: AckPolicy.Explicit,
    filter_subject: 'skel.audit.append',
  });
  const consumer = await nc.jetstream().consumers.get(cfg.stream, 'skel-audit');
  const messages = await consumer.consume({ max_messages: 256 });
  void (async () => {
    for await (const m of messages) {
      const ev = codec.decode(m.data);
      await commit('skel_audit', String(ev['id']), ev);
      m.ack();
    }
  })();
}

async function edge(nc: NatsConnection): Promise<void> {
  const js = nc.jetstream();
  const request = async (subject: string, id: string) =>
    codec.decode((await nc.request(subject, codec.encode({ id, orgId: id, step: subject }))).data);
  // The saga log: an insert, a transition per stage, an end (6 commits).
  const log = (id: string, step: string) => commit('skel_saga', id, { step });
  const disconnect = async (id: string) => {
    await log(id, 'start');
    await request('skel.connection.lock', id);
    await log(id, 'lock');
    await request('skel.scheduler.disable', id);
    await log(id, 'disable');
    await request('skel.vault.revoke', id);
    await log(id, 'revoke');
    await Promise.all([
      request('skel.vault.destroy', id),
      request('skel.connection.statuses', id),
      request('skel.scheduler.mark', id),
    ]);
    await log(id, 'stage4');
    await Promise.all([
      js.publish('skel.audit.append', codec.encode({ id, action: 'connection.disconnected' })),
      js.publish('skel.events.disconnected', codec.encode({ id, event: 'disconnected' })),
    ]);
    await log(id, 'end');
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as { id?: string };
      disconnect(String(body.id)).then(
        () => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ id: body.id, status: 'completed' }));
        },
        (e: unknown) => {
          res.writeHead(500);
          res.end(String(e));
        },
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  process.send?.({ port: typeof addr === 'object' && addr ? addr.port : 0 });
}

async function main(): Promise<void> {
  const nc = await connect({ servers: cfg.natsUrl, name: `skel-${role}` });
  if (role === 'edge') await edge(nc);
  else if (role === 'vault') await serve(nc, 'vault', ['revoke', 'destroy']);
  else if (role === 'connection') await serve(nc, 'connection', ['lock', 'statuses']);
  else if (role === 'scheduler') await serve(nc, 'scheduler', ['disable', 'mark']);
  else if (role === 'audit') await auditConsumer(nc);
  else throw new Error(`unknown role ${role}`);
  if (role !== 'edge') process.send?.({ ready: true });
  process.on('SIGTERM', () => {
    void nc.close().then(() => pool.end().then(() => process.exit(0)));
  });
}

void main();
