import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { EventPublisher, type Bus } from '@otesse/messaging';
import {
  migrateDown,
  migrateUp,
  openOrm,
  provisionDatabase,
  SERVICE_SCHEMAS,
} from '@otesse/persistence';
import type { TTestDatabase } from '@otesse/testing';
import type { TRunningService } from '@otesse/runtime';
import { AUDIT_SCHEMA, auditOrmConfig } from './db/orm.config';
import { chainContentOfRow, linkHash, type TAuditEntryRow } from './hash-chain';
import {
  publishEntries,
  startAuditTestBed,
  waitForEntries,
  type TAuditTestBed,
} from './test/audit-test-bed';

/** Issue 3 done-when 3: the service's role cannot change history; a superuser's edit is found by verify. */
describe('audit log is append-only and tamper-evident (real Postgres + NATS)', () => {
  let bed: TAuditTestBed;
  let db: TTestDatabase;
  let bus: Bus;
  let svc: TRunningService;
  let runtime: pg.Client;
  let owner: pg.Client;

  beforeAll(async () => {
    // No MIGRATIONS_DATABASE_URL: the service derives the owner's URL from its own.
    bed = await startAuditTestBed('audit-append-only-test');
    ({ db, bus, svc } = bed);
    runtime = new pg.Client({ connectionString: db.urlFor('audit') });
    owner = new pg.Client({ connectionString: db.migrationsUrlFor('audit') });
    await Promise.all([runtime.connect(), owner.connect()]);
  });
  afterAll(async () => {
    await runtime?.end();
    await owner?.end();
    await bed?.close();
  });

  /** Appends `n` entries to a new org through the real path (JetStream → writer); returns the org. */
  const seedOrg = async (n: number): Promise<string> => {
    const orgId = randomUUID();
    await publishEntries(
      new EventPublisher(bed.nc),
      Array.from({ length: n }, (_, i) => ({
        eventId: randomUUID(),
        orgId,
        actorUserId: randomUUID(),
        action: 'sync_job.disabled',
        provider: 'confluence',
        outcome: 'success',
        details: { i: i + 1 },
        occurredAt: new Date().toISOString(),
      })),
    );
    await waitForEntries(db, [orgId], n);
    return orgId;
  };
  const verify = (orgId: string) => bus.request('audit.chain.verify', { orgId });
  const sqlError = async (client: pg.Client, sql: string, params: unknown[] = []) => {
    try {
      await client.query(sql, params);
    } catch (e) {
      return { code: (e as { code?: string }).code, message: (e as Error).message };
    }
    throw new Error(`expected to fail: ${sql}`);
  };
  /** As a superuser, with triggers off for this session (what an attacker with full access could do). */
  const asSuperuser = async (sql: string, params: unknown[] = []): Promise<void> => {
    const c = new pg.Client({ connectionString: db.adminUrl });
    await c.connect();
    try {
      await c.query('set session_replication_role = replica');
      await c.query(sql, params);
    } finally {
      await c.end();
    }
  };

  it('gives the service role SELECT/INSERT on entries only: UPDATE, DELETE, TRUNCATE and DDL fail', async () => {
    const orgId = await seedOrg(3);
    const cases = [
      [`update audit.audit_entry set outcome = 'failure' where org_id = $1`, [orgId]],
      [`delete from audit.audit_entry where org_id = $1`, [orgId]],
      ['truncate audit.audit_entry', []],
      ['alter table audit.audit_entry disable trigger all', []],
      ['drop table audit.audit_entry', []],
      [`delete from audit.chain_head where org_id = $1`, [orgId]],
      ['create table audit.shadow (id int)', []],
    ] as const;
    for (const [sql, params] of cases) {
      const err = await sqlError(runtime, sql, [...params]);
      expect(err.code, sql).toBe('42501');
    }
    // What it needs still works.
    const rows = await runtime.query('select seq from audit.audit_entry where org_id = $1', [
      orgId,
    ]);
    expect(rows.rowCount).toBe(3);
    expect(await verify(orgId)).toEqual({
      ok: true,
      checked: 3,
      firstBrokenSeq: null,
      reason: null,
    });
  });

  it('refuses UPDATE, DELETE and TRUNCATE even to the schema owner (trigger)', async () => {
    const orgId = await seedOrg(2);
    for (const sql of [
      `update audit.audit_entry set outcome = 'failure' where org_id = '${orgId}'`,
      `delete from audit.audit_entry where org_id = '${orgId}'`,
      'truncate audit.audit_entry',
    ]) {
      const err = await sqlError(owner, sql);
      expect(err.message, sql).toMatch(/append-only/);
    }
    expect((await verify(orgId)).ok).toBe(true);
  });

  it("reports a superuser's edit of an entry at that entry", async () => {
    const orgId = await seedOrg(12);
    await asSuperuser(
      `update audit.audit_entry set details = '{"i": 999}' where org_id = $1 and seq = 7`,
      [orgId],
    );
    expect(await verify(orgId)).toEqual({
      ok: false,
      checked: 6,
      firstBrokenSeq: 7,
      reason: 'hash_mismatch',
    });
  });

  it('reports an edit that also recomputed the hash at the next entry (its link no longer matches)', async () => {
    const orgId = await seedOrg(6);
    const [row] = await db.query<TAuditEntryRow>(
      'select * from audit.audit_entry where org_id = $1 and seq = 4',
      [orgId],
    );
    const forged = { ...row!, outcome: 'failure' };
    const hash = linkHash(chainContentOfRow(forged), row!.prev_hash);
    await asSuperuser(
      `update audit.audit_entry set outcome = 'failure', hash = $2 where org_id = $1 and seq = 4`,
      [orgId, hash],
    );
    expect(await verify(orgId)).toEqual({
      ok: false,
      checked: 4,
      firstBrokenSeq: 5,
      reason: 'prev_hash_mismatch',
    });
  });

  it('reports deleted entries: in the middle where the gap starts, at the tail through the chain head', async () => {
    const middle = await seedOrg(8);
    await asSuperuser('delete from audit.audit_entry where org_id = $1 and seq in (5, 6)', [
      middle,
    ]);
    expect(await verify(middle)).toEqual({
      ok: false,
      checked: 4,
      firstBrokenSeq: 5,
      reason: 'missing_entry',
    });
    const tail = await seedOrg(5);
    await asSuperuser('delete from audit.audit_entry where org_id = $1 and seq >= 4', [tail]);
    expect(await verify(tail)).toEqual({
      ok: false,
      checked: 3,
      firstBrokenSeq: 4,
      reason: 'head_mismatch',
    });
  });

  it('verifies an org without entries, and a chain longer than one verify batch', async () => {
    expect(await verify(randomUUID())).toEqual({
      ok: true,
      checked: 0,
      firstBrokenSeq: null,
      reason: null,
    });
    const orgId = await seedOrg(1);
    // 4,500 more links, appended as the writer does (one batch), so the walk spans three batches.
    const orm = await openOrm(auditOrmConfig(db.urlFor('audit')));
    try {
      const { appendEntries } = await import('./append-entries');
      await appendEntries(
        orm,
        Array.from({ length: 4_500 }, (_, i) => ({
          eventId: randomUUID(),
          orgId,
          actorUserId: null,
          onBehalfOfUserId: null,
          action: 'sync_job.run_requested' as const,
          provider: null,
          targets: {},
          outcome: 'success',
          details: { i },
          occurredAt: new Date().toISOString(),
          ip: null,
          traceId: null,
        })),
      );
    } finally {
      await orm.close(true);
    }
    expect(await verify(orgId)).toEqual({
      ok: true,
      checked: 4_501,
      firstBrokenSeq: null,
      reason: null,
    });
    await asSuperuser(
      `update audit.audit_entry set occurred_at = occurred_at + interval '1 second' where org_id = $1 and seq = 4321`,
      [orgId],
    );
    expect(await verify(orgId)).toMatchObject({ ok: false, firstBrokenSeq: 4321, checked: 4320 });
  });

  it('hands tables the runtime role owned before the owner/runtime split to the owner when re-provisioned', async () => {
    // A database provisioned before the split: the runtime role owned the schema and its tables.
    const c = new pg.Client({ connectionString: db.adminUrl });
    await c.connect();
    try {
      await c.query('alter schema audit owner to otesse_audit');
      await c.query('set role otesse_audit');
      await c.query('create table audit.legacy (id int)');
    } finally {
      await c.end();
    }
    await provisionDatabase(db.adminUrl, Object.values(SERVICE_SCHEMAS));
    const owners = await db.query<{ tableowner: string }>(
      "select tableowner from pg_tables where schemaname = 'audit' and tablename = 'legacy'",
    );
    expect(owners).toEqual([{ tableowner: AUDIT_SCHEMA.ownerRole }]);
    const [schema] = await db.query<{ owner: string }>(
      "select nspowner::regrole::text as owner from pg_namespace where nspname = 'audit'",
    );
    expect(schema?.owner).toBe(AUDIT_SCHEMA.ownerRole);
  });

  it('migrates the append-only guard down and up again as the owner', async () => {
    await svc.stop();
    const orm = await openOrm(auditOrmConfig(db.migrationsUrlFor('audit')));
    try {
      expect(await migrateDown(orm, 'Migration20261121235100_append_only')).toEqual([
        'Migration20261122000424_filter_indexes',
        'Migration20261121235100_append_only',
      ]);
      const triggers = () =>
        db.query<{ tgname: string }>(
          "select tgname from pg_trigger where tgrelid = 'audit.audit_entry'::regclass and not tgisinternal order by 1",
        );
      expect(await triggers()).toEqual([]);
      expect(await migrateUp(orm, AUDIT_SCHEMA.schema)).toEqual([
        'Migration20261121235100_append_only',
        'Migration20261122000424_filter_indexes',
      ]);
      expect((await triggers()).map((t) => t.tgname)).toEqual([
        'audit_entry_append_only',
        'audit_entry_no_truncate',
      ]);
    } finally {
      await orm.close(true);
    }
    const err = await sqlError(runtime, 'delete from audit.audit_entry');
    expect(err.code).toBe('42501');
  });
});
