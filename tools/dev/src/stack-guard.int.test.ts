import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import {
  dropDatabase,
  provisionDatabase,
  SERVICE_SCHEMAS,
  urlForDatabase,
} from '@otesse/persistence';
import {
  createTestDatabase,
  startNatsServer,
  type TTestDatabase,
  type TTestNats,
} from '@otesse/testing';
import { acquireStackGuard, StackInUseError, type TStackGuard } from './stack-guard';

/** Issue: a second `npm start` on the same database or NATS took the first stack's jobs and requests. */
describe('npm start: one stack per database and per NATS', () => {
  let db: TTestDatabase;
  let otherDb: TTestDatabase;
  let nats: TTestNats;
  let otherNats: TTestNats;
  const held: TStackGuard[] = [];
  const guard = async (databaseUrl: string, natsUrl: string, edgeUrl: string) => {
    const g = await acquireStackGuard({ databaseUrl, natsUrl, edgeUrl, pingWaitMs: 300 });
    held.push(g);
    return g;
  };
  const refusal = async (p: Promise<unknown>): Promise<string> => {
    const e = await p.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(StackInUseError);
    return (e as Error).message;
  };

  beforeAll(async () => {
    [db, otherDb, nats, otherNats] = await Promise.all([
      createTestDatabase('otesse_guard'),
      createTestDatabase('otesse_guard'),
      startNatsServer(),
      startNatsServer(),
    ]);
  });
  afterAll(async () => {
    for (const g of held) await g.release();
    await Promise.all([db?.drop(), otherDb?.drop(), nats?.stop(), otherNats?.stop()]);
  });

  it('refuses a second launcher on the same database and NATS, naming both variables, until the first stops', async () => {
    const first = await guard(db.adminUrl, nats.url, 'http://127.0.0.1:3000');
    const message = await refusal(guard(db.adminUrl, nats.url, 'http://127.0.0.1:3001'));
    expect(message).toContain(`the database "${db.name}" on 127.0.0.1:5432 is in use by npm start`);
    expect(message).toContain('edge http://127.0.0.1:3000');
    expect(message).toContain(`NATS ${nats.url} already has Otesse services answering: npm start`);
    expect(message).toContain('its own DATABASE_URL and NATS_URL');
    expect(message).toContain(`DATABASE_URL=postgres://postgres@127.0.0.1:5432/${db.name}_2`);
    expect(message).toContain(`NATS_URL=nats://127.0.0.1:${nats.port + 1}`);
    // A refused launcher leaves nothing behind: the first still holds both.
    await refusal(guard(db.adminUrl, nats.url, 'http://127.0.0.1:3002'));

    await first.release();
    const next = await guard(db.adminUrl, nats.url, 'http://127.0.0.1:3001');
    await next.release();
  });

  it('refuses a shared database alone (its own NATS) and a shared NATS alone (its own database)', async () => {
    const first = await guard(db.adminUrl, nats.url, 'http://127.0.0.1:3000');
    const sameDb = await refusal(guard(db.adminUrl, otherNats.url, 'http://127.0.0.1:3001'));
    expect(sameDb).toContain(`the database "${db.name}"`);
    expect(sameDb).toContain('its own DATABASE_URL,');
    expect(sameDb).not.toContain('NATS_URL');
    const sameNats = await refusal(guard(otherDb.adminUrl, nats.url, 'http://127.0.0.1:3001'));
    expect(sameNats).toContain(`NATS ${nats.url} already has Otesse services answering`);
    expect(sameNats).toContain(`database ${db.name}`);
    expect(sameNats).toContain('its own NATS_URL,');
    expect(sameNats).not.toContain('DATABASE_URL');
    // Its own database and NATS: both stacks run.
    const second = await guard(otherDb.adminUrl, otherNats.url, 'http://127.0.0.1:3001');
    await Promise.all([first.release(), second.release()]);
  });

  it("refuses a NATS where the backend's services already answer, however they were started", async () => {
    let nc: NatsConnection | undefined;
    try {
      nc = await connect({ servers: otherNats.url });
      // As a compose stack or `nx run connection:serve` registers itself (libs/messaging serveService).
      await nc.services.add({ name: 'connection', version: '1.0.0' });
      await nc.services.add({ name: 'audit', version: '1.0.0' });
      const message = await refusal(guard(db.adminUrl, otherNats.url, 'http://127.0.0.1:3000'));
      expect(message).toContain(
        `NATS ${otherNats.url} already has Otesse services answering: audit, connection`,
      );
      // The refusal released the database lock it had taken.
      const g = await guard(db.adminUrl, nats.url, 'http://127.0.0.1:3000');
      await g.release();
    } finally {
      await nc?.close();
    }
  });

  it("creates a database that does not exist yet (nothing can run on it), then holds that database's lock", async () => {
    const url = urlForDatabase(db.adminUrl, `${db.name}_new`);
    try {
      const g = await acquireStackGuard({
        databaseUrl: url,
        natsUrl: nats.url,
        edgeUrl: 'http://127.0.0.1:3000',
        pingWaitMs: 300,
        createDatabase: () => provisionDatabase(url, Object.values(SERVICE_SCHEMAS)),
      });
      held.push(g);
      const [row] = await db.query<{ n: string }>(
        `select count(*) as n from pg_locks l join pg_database d on d.oid = l.database
          where l.locktype = 'advisory' and d.datname = $1`,
        [`${db.name}_new`],
      );
      expect(row?.n).toBe('1');
      await g.release();
    } finally {
      await dropDatabase(url);
    }
  });
});
