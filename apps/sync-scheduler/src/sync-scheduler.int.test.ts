import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import type { Bus } from '@otesse/messaging';
import { migrateDown, migrateUp, openOrm } from '@otesse/persistence';
import type { TRequestSubject } from '@otesse/contracts';
import { schemaObjects, type TTestDatabase } from '@otesse/testing';
import type { TRunningService } from '@otesse/runtime';
import { SYNC_SCHEMA, syncSchedulerOrmConfig } from './db/orm.config';
import { migrations } from './migrations';
import {
  createDefaultJobs,
  startSyncSchedulerTestBed,
  type TSyncSchedulerTestBed,
} from './test/sync-scheduler-test-bed';

const ALL = ['contacts', 'invoices', 'tickets'] as const;

describe('sync-scheduler service (real Postgres + NATS)', () => {
  let bed: TSyncSchedulerTestBed;
  let db: TTestDatabase;
  let nc: NatsConnection;
  let bus: Bus;
  // The migration tests stop it first (the bed's close stops it again: a no-op).
  let svc: TRunningService | undefined;

  beforeAll(async () => {
    bed = await startSyncSchedulerTestBed('sync-scheduler-test', {
      // Endpoints only: these tests look at tables the engine would otherwise add executions to.
      engine: { enabled: false },
    });
    ({ db, nc, bus, svc } = bed);
  });
  afterAll(async () => {
    await bed?.close();
  });

  /** Migrates down one at a time until `last` is undone (the newer migrations first); the names undone. */
  const downThrough = async (orm: Parameters<typeof migrateDown>[0], last: RegExp) => {
    const undone: string[] = [];
    for (;;) {
      const down = await migrateDown(orm);
      expect(down).toHaveLength(1);
      undone.push(down[0]!);
      if (last.test(down[0]!)) return undone;
    }
  };
  const ids = () => ({
    orgId: randomUUID(),
    instanceId: randomUUID(),
    connectionId: randomUUID(),
  });
  const createDefaults = (
    t: { orgId: string; instanceId: string; connectionId: string },
    resources: readonly (typeof ALL)[number][] = ALL,
  ) => createDefaultJobs(bus, t, resources);
  const tableCounts = async () =>
    (
      await db.query<{ jobs: string; executions: string; mappings: string; refs: string }>(
        `select (select count(*) from sync.sync_job) as jobs,
                (select count(*) from sync.sync_execution) as executions,
                (select count(*) from sync.field_mapping) as mappings,
                (select count(*) from sync.external_reference) as refs`,
      )
    )[0];

  it('creates one enabled interval job per resource, due soon, and the default mappings', async () => {
    const t = ids();
    const before = Date.now();
    const res = await createDefaults(t);
    expect(res.created).toBe(3);
    expect(res.mappingsCreated).toBe(7);
    expect(res.jobs.map((j) => j.resource)).toEqual(['contacts', 'invoices', 'tickets']);
    for (const j of res.jobs) {
      expect(j).toMatchObject({
        ...t,
        vendor: 'zendesk',
        isEnabled: true,
        schedule: { kind: 'interval', everySeconds: 900 },
        lastRunAt: null,
        runRequestedAt: null,
      });
      const next = new Date(j.nextRunAt!).getTime();
      expect(next).toBeGreaterThanOrEqual(before - 1_000);
      expect(next).toBeLessThanOrEqual(Date.now() + 61_000);
    }
    const rows = await db.query<{ resource: string; is_enabled: boolean }>(
      'select resource, is_enabled from sync.sync_job where connection_id = $1 order by resource',
      [t.connectionId],
    );
    expect(rows).toEqual(ALL.map((resource) => ({ resource, is_enabled: true })));

    const { mappings } = await bus.request('sync-scheduler.mappings.list', {
      orgId: t.orgId,
      instanceId: t.instanceId,
    });
    expect(mappings.map((m) => `${m.resource}:${m.localField}<-${m.remoteField}`)).toEqual([
      'contacts:email<-email',
      'contacts:name<-name',
      'invoices:amount<-amount',
      'invoices:currency<-currency',
      'invoices:number<-number',
      'tickets:status<-status',
      'tickets:title<-title',
    ]);
    const invoices = await bus.request('sync-scheduler.mappings.list', {
      orgId: t.orgId,
      instanceId: t.instanceId,
      resource: 'invoices',
    });
    expect(invoices.mappings).toHaveLength(3);
  });

  it('is idempotent: a replay creates nothing and leaves a disabled job and an edited mapping alone', async () => {
    const t = ids();
    const first = await createDefaults(t);
    const tickets = first.jobs.find((j) => j.resource === 'tickets')!;
    // What the disconnect saga will do: the job stays disabled until the user re-enables it.
    await db.query(
      `update sync.sync_job set is_enabled = false, disabled_by_saga_id = $2 where id = $1`,
      [tickets.id, randomUUID()],
    );
    await db.query(
      `update sync.field_mapping set remote_field = 'full_name'
        where instance_id = $1 and resource = 'contacts' and local_field = 'name'`,
      [t.instanceId],
    );
    await db.query(
      `delete from sync.field_mapping where instance_id = $1 and local_field = 'currency'`,
      [t.instanceId],
    );
    const countsBefore = await tableCounts();

    const again = await createDefaults(t);
    expect(again.created).toBe(0);
    expect(again.mappingsCreated).toBe(0);
    expect(again.jobs.map((j) => j.id)).toEqual(first.jobs.map((j) => j.id));
    expect(again.jobs.find((j) => j.id === tickets.id)).toMatchObject({
      isEnabled: false,
      nextRunAt: tickets.nextRunAt,
    });
    expect(await tableCounts()).toEqual(countsBefore);
    const { mappings } = await bus.request('sync-scheduler.mappings.list', {
      orgId: t.orgId,
      instanceId: t.instanceId,
    });
    expect(mappings.find((m) => m.localField === 'name')?.remoteField).toBe('full_name');
    expect(mappings.find((m) => m.localField === 'currency')).toBeUndefined();
  });

  it('adds only the missing resources, and dedupes a repeated resource', async () => {
    const t = ids();
    const first = await createDefaults(t, ['contacts']);
    expect([first.created, first.mappingsCreated]).toEqual([1, 2]);
    const second = await createDefaults(t, ['contacts', 'invoices', 'invoices']);
    expect([second.created, second.mappingsCreated]).toEqual([1, 3]);
    expect(second.jobs.map((j) => j.resource)).toEqual(['contacts', 'invoices']);
    expect(second.jobs[0]!.id).toBe(first.jobs[0]!.id);
  });

  it("a reconnection adopts the previous connection's jobs as they are (disabled stays disabled)", async () => {
    const first = ids();
    await createDefaults(first);
    await db.query(
      `update sync.sync_job set is_enabled = false, disabled_by_saga_id = gen_random_uuid() where connection_id = $1`,
      [first.connectionId],
    );
    const second = { ...first, connectionId: randomUUID() };
    const r = await bus.request('sync-scheduler.jobs.create-defaults', {
      ...second,
      vendor: 'zendesk',
      resources: [...ALL],
      adoptFromConnectionId: first.connectionId,
    });
    expect(r).toMatchObject({ adopted: ALL.length, created: 0, mappingsCreated: 0 });
    expect(r.jobs.every((j) => !j.isEnabled && j.connectionId === second.connectionId)).toBe(true);
    const left = await db.query(`select 1 from sync.sync_job where connection_id = $1`, [
      first.connectionId,
    ]);
    expect(left).toEqual([]);
  });

  it('replies with the existing jobs for a provider without resources', async () => {
    const t = ids();
    const none = await createDefaults(t, []);
    expect(none).toEqual({ jobs: [], adopted: 0, created: 0, mappingsCreated: 0 });
    await createDefaults(t, ['tickets']);
    const listed = await createDefaults(t, []);
    expect(listed.jobs.map((j) => j.resource)).toEqual(['tickets']);
    expect(listed.created).toBe(0);
  });

  it('gives two user-level connections of one instance their own jobs but one set of mappings', async () => {
    const a = ids();
    const b = { ...a, connectionId: randomUUID() };
    const ra = await createDefaults(a);
    const rb = await createDefaults(b);
    expect([ra.created, ra.mappingsCreated]).toEqual([3, 7]);
    expect([rb.created, rb.mappingsCreated]).toEqual([3, 0]);
    expect(rb.jobs.every((j) => j.connectionId === b.connectionId)).toBe(true);
    expect(new Set([...ra.jobs, ...rb.jobs].map((j) => j.id)).size).toBe(6);

    const byInstance = await bus.request('sync-scheduler.jobs.list', {
      orgId: a.orgId,
      instanceId: a.instanceId,
    });
    expect(byInstance.jobs).toHaveLength(6);
    const byConnection = await bus.request('sync-scheduler.jobs.list', {
      orgId: a.orgId,
      connectionId: b.connectionId,
    });
    expect(byConnection.jobs.map((j) => j.id).sort()).toEqual(rb.jobs.map((j) => j.id).sort());
    const both = await bus.request('sync-scheduler.jobs.list', {
      orgId: a.orgId,
      instanceId: a.instanceId,
      connectionId: a.connectionId,
    });
    expect(both.jobs).toHaveLength(3);
    const wholeOrg = await bus.request('sync-scheduler.jobs.list', { orgId: a.orgId });
    expect(wholeOrg.jobs).toHaveLength(6);
    const { mappings } = await bus.request('sync-scheduler.mappings.list', {
      orgId: a.orgId,
      instanceId: a.instanceId,
    });
    expect(mappings).toHaveLength(7);
  });

  it("scopes every read by org: another org's ids return nothing", async () => {
    const t = ids();
    await createDefaults(t);
    const otherOrg = randomUUID();
    for (const filter of [
      {},
      { instanceId: t.instanceId },
      { connectionId: t.connectionId },
      { instanceId: t.instanceId, connectionId: t.connectionId },
    ]) {
      const res = await bus.request('sync-scheduler.jobs.list', { orgId: otherOrg, ...filter });
      expect(res.jobs).toEqual([]);
    }
    const mappings = await bus.request('sync-scheduler.mappings.list', {
      orgId: otherOrg,
      instanceId: t.instanceId,
    });
    expect(mappings.mappings).toEqual([]);
    const own = await bus.request('sync-scheduler.jobs.list', {
      orgId: t.orgId,
      instanceId: t.instanceId,
    });
    expect(own.jobs).toHaveLength(3);
  });

  it("refuses to attach jobs to another org's connection or instance, writing nothing", async () => {
    const t = ids();
    await createDefaults(t, ['contacts']);
    const countsBefore = await tableCounts();
    const intruder = randomUUID();
    await expect(
      createDefaults({ ...t, orgId: intruder }, ['contacts', 'tickets']),
    ).rejects.toMatchObject({ code: 'CONFLICT', reason: 'connection_mismatch' });
    await expect(
      createDefaults({ ...t, orgId: intruder, connectionId: randomUUID() }),
    ).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(
      bus.request('sync-scheduler.jobs.create-defaults', {
        ...t,
        vendor: 'servicenow',
        resources: ['tickets'],
      }),
    ).rejects.toMatchObject({ code: 'CONFLICT', reason: 'connection_mismatch' });
    expect(await tableCounts()).toEqual(countsBefore);
  });

  it('lets at most one execution per job be running (partial unique index, checked as superuser)', async () => {
    const t = ids();
    const { jobs } = await createDefaults(t, ['contacts', 'invoices']);
    const [job, otherJob] = jobs as [(typeof jobs)[0], (typeof jobs)[0]];
    const insertRunning = (jobId: string) =>
      db.query(
        `insert into sync.sync_execution (job_id, org_id, connection_id, status, lease_owner, lease_expires_at)
         values ($1, $2, $3, 'running', 'worker-1', now() + interval '30 seconds') returning id`,
        [jobId, t.orgId, t.connectionId],
      );
    const [first] = await insertRunning(job.id);
    await expect(insertRunning(job.id)).rejects.toMatchObject({
      code: '23505',
      constraint: 'sync_execution_one_running_per_job',
    });
    // Other jobs and finished executions are not affected.
    await insertRunning(otherJob.id);
    await db.query(
      `insert into sync.sync_execution (job_id, org_id, connection_id, status, completed_at)
       values ($1, $2, $3, 'succeeded', now()), ($1, $2, $3, 'failed', now())`,
      [job.id, t.orgId, t.connectionId],
    );
    // A finished execution must say when it finished, a running one must not.
    await expect(
      db.query(
        `insert into sync.sync_execution (job_id, org_id, connection_id, status)
         values ($1, $2, $3, 'cancelled')`,
        [job.id, t.orgId, t.connectionId],
      ),
    ).rejects.toMatchObject({ code: '23514' });
    // Once the running one is cancelled, the job may run again.
    await db.query(
      `update sync.sync_execution set status = 'cancelled', completed_at = now() where id = $1`,
      [first!['id']],
    );
    await expect(insertRunning(job.id)).resolves.toHaveLength(1);
  });

  it('counts an instance’s external references by status, scoped by org', async () => {
    const t = ids();
    // Stale: synced last before the connection's stale mark (an hour ago); synced: after it.
    const ref = (externalId: string, status: 'synced' | 'stale') =>
      db.query(
        `insert into sync.external_reference
           (org_id, instance_id, connection_id, resource, external_id, local_record_id, last_synced_at)
         values ($1, $2, $3, 'contacts', $4, gen_random_uuid(),
                 case when $5 = 'stale' then now() - interval '1 day' else now() end)`,
        [t.orgId, t.instanceId, t.connectionId, externalId, status],
      );
    await db.query(
      `insert into sync.reference_stale_mark (org_id, instance_id, connection_id, stale_since, references_at_mark)
       values ($1, $2, $3, now() - interval '1 hour', 1)`,
      [t.orgId, t.instanceId, t.connectionId],
    );
    expect(
      await bus.request('sync-scheduler.references.count', {
        orgId: t.orgId,
        instanceId: t.instanceId,
      }),
    ).toEqual({ synced: 0, stale: 0 });
    await ref('c-1', 'synced');
    await ref('c-2', 'synced');
    await ref('c-3', 'stale');
    await expect(ref('c-1', 'stale')).rejects.toMatchObject({ code: '23505' });
    expect(
      await bus.request('sync-scheduler.references.count', {
        orgId: t.orgId,
        instanceId: t.instanceId,
      }),
    ).toEqual({ synced: 2, stale: 1 });
    expect(
      await bus.request('sync-scheduler.references.count', {
        orgId: randomUUID(),
        instanceId: t.instanceId,
      }),
    ).toEqual({ synced: 0, stale: 0 });
  });

  it('answers malformed payloads on every subject with BAD_REQUEST, writes nothing, and keeps answering', async () => {
    const t = ids();
    const saga = {
      orgId: t.orgId,
      connectionId: t.connectionId,
      sagaId: randomUUID(),
      idempotencyKey: 'k',
    };
    const common = ['not json', '', '[]', '"text"', '{"orgId":"nope"}', 'null'];
    const specific: Record<TRequestSubject & `sync-scheduler.${string}`, unknown[]> = {
      'sync-scheduler.jobs.create-defaults': [
        { ...t, vendor: 'zendesk', resources: ['emails'] },
        { ...t, vendor: 'Not A Slug', resources: ['contacts'] },
        { ...t, vendor: 'zendesk', resources: ['contacts'], everySeconds: 1 },
        { ...t, vendor: 'zendesk', resources: ['contacts'], extra: true },
        { ...t, vendor: 'zendesk', resources: Array(11).fill('contacts') },
        { ...t, connectionId: 'x', vendor: 'zendesk', resources: ['contacts'] },
        { ...t, vendor: 'zendesk' },
      ],
      'sync-scheduler.jobs.list': [
        { orgId: t.orgId, instanceId: 'not-a-uuid' },
        { orgId: t.orgId, connectionId: 42 },
        { orgId: t.orgId, connection: t.connectionId },
        { instanceId: t.instanceId },
      ],
      'sync-scheduler.references.count': [{ orgId: t.orgId }, { orgId: t.orgId, instanceId: null }],
      'sync-scheduler.mappings.list': [
        { orgId: t.orgId, instanceId: t.instanceId, resource: 'emails' },
        { instanceId: t.instanceId },
      ],
      'sync-scheduler.connections.summary': [{ orgId: t.orgId }, { connectionId: t.connectionId }],
      'sync-scheduler.jobs.disable-for-connection': [
        { orgId: t.orgId, connectionId: t.connectionId, sagaId: randomUUID() },
        { ...saga, idempotencyKey: '' },
        { ...saga, sagaId: 'nope' },
      ],
      'sync-scheduler.jobs.reenable-for-saga': [
        { orgId: t.orgId, connectionId: t.connectionId, idempotencyKey: 'k' },
        { ...saga, extra: 1 },
      ],
      'sync-scheduler.references.mark-stale': [
        { ...t, scope: 'everything', idempotencyKey: 'k' },
        { ...t, scope: 'instance' },
      ],
      'sync-scheduler.jobs.overview': [{ orgId: t.orgId }, { orgId: t.orgId, instanceId: 1 }],
      'sync-scheduler.jobs.set-enabled': [
        { orgId: t.orgId, jobId: randomUUID() },
        { orgId: t.orgId, jobId: randomUUID(), enabled: 'yes' },
      ],
      'sync-scheduler.jobs.run-now': [{ orgId: t.orgId }, { orgId: t.orgId, jobId: 'x' }],
      'sync-scheduler.executions.list': [
        { orgId: t.orgId, jobId: randomUUID(), limit: 0 },
        { orgId: t.orgId, jobId: randomUUID(), limit: 101 },
        { orgId: t.orgId, jobId: randomUUID(), before: 'x' },
      ],
      'sync-scheduler.executions.get': [{ orgId: t.orgId }, { executionId: randomUUID() }],
      'sync-scheduler.engine.stats': [{ verbose: true }],
      'sync-scheduler.instances.data-summary': [
        { orgId: t.orgId },
        { orgId: t.orgId, instanceId: 'not-a-uuid' },
        { orgId: t.orgId, instanceId: t.instanceId, extra: true },
      ],
      'sync-scheduler.instances.erase-data': [
        { orgId: t.orgId, instanceId: t.instanceId },
        { orgId: t.orgId, instanceId: t.instanceId, idempotencyKey: '' },
        { orgId: t.orgId, instanceId: 'x', idempotencyKey: 'k' },
        { orgId: t.orgId, instanceId: t.instanceId, idempotencyKey: 'k', extra: 1 },
      ],
      'sync-scheduler.idempotency-records.forget': [
        { keys: [] },
        { keys: ['k'] },
        { keys: [`${saga.sagaId}:disable-sync-jobs`, 'connect-cleanup:x'] },
        { keys: [`${saga.sagaId}:disable-sync-jobs`], orgId: t.orgId },
      ],
    };
    const countsBefore = await tableCounts();
    for (const [subject, bodies] of Object.entries(specific)) {
      // Every request but the engine's stats has required fields.
      const empty = subject === 'sync-scheduler.engine.stats' ? [] : ['{}'];
      for (const body of [...common, ...empty, ...bodies.map((b) => JSON.stringify(b))]) {
        const msg = await nc.request(subject, new TextEncoder().encode(body), { timeout: 5_000 });
        expect(msg.headers?.get('Nats-Service-Error-Code'), `${subject} ${body}`).toBe('400');
        expect(JSON.parse(new TextDecoder().decode(msg.data))).toMatchObject({
          error: { code: 'BAD_REQUEST' },
        });
      }
    }
    expect(await tableCounts()).toEqual(countsBefore);
    // Still serving every subject.
    await expect(createDefaults(t, ['contacts'])).resolves.toMatchObject({ created: 1 });
    await expect(
      bus.request('sync-scheduler.jobs.list', { orgId: t.orgId }),
    ).resolves.toMatchObject({ jobs: [expect.any(Object)] });
    await expect(
      bus.request('sync-scheduler.references.count', { orgId: t.orgId, instanceId: t.instanceId }),
    ).resolves.toEqual({ synced: 0, stale: 0 });
    await expect(
      bus.request('sync-scheduler.mappings.list', { orgId: t.orgId, instanceId: t.instanceId }),
    ).resolves.toMatchObject({ mappings: expect.any(Array) });
  });

  it('migrates down to an empty schema and back up (down() undoes the hand-written SQL too)', async () => {
    await svc?.stop();
    svc = undefined;
    const orm = await openOrm(syncSchedulerOrmConfig(db.urlFor('sync-scheduler')));
    try {
      const replayLanguage = async () =>
        (
          await db.query<{ lang: string }>(
            `select l.lanname as lang from pg_proc p join pg_namespace n on n.oid = p.pronamespace
               join pg_language l on l.oid = p.prolang where n.nspname = 'sync' and p.proname = 'replay_of'`,
          )
        )[0]?.lang;
      expect(await replayLanguage()).toBe('plpgsql');
      await downThrough(orm, /_idempotency_retention$/);
      expect(await replayLanguage()).toBe('plpgsql');
      await migrateDown(orm);
      expect(await replayLanguage()).toBe('sql');
      // One migration at a time, newest first, down to nothing.
      while ((await migrateDown(orm)).length > 0);
      expect(await schemaObjects(db, SYNC_SCHEMA.schema)).toEqual({ relations: [], functions: [] });
      expect(await migrateUp(orm, SYNC_SCHEMA.schema)).toHaveLength(migrations.length);
      expect(await replayLanguage()).toBe('plpgsql');
      const partial = await db.query<{ indexname: string }>(
        `select indexname from pg_indexes where schemaname = 'sync' and indexdef like '%WHERE%' order by 1`,
      );
      expect(partial.map((r) => r.indexname)).toEqual([
        'processed_command_other_created_idx',
        'sync_execution_completed_idx',
        'sync_execution_one_running_per_job',
        'sync_execution_running_connection_idx',
        'sync_execution_running_lease_idx',
        'sync_job_disabled_by_saga_idx',
        'sync_job_due_idx',
        'sync_job_run_requested_idx',
      ]);
    } finally {
      await orm.close(true);
    }
  });

  it('derived_stale keeps every reference’s state across the upgrade (tallies backfilled), and down() stores them back', async () => {
    await svc?.stop();
    svc = undefined;
    const orm = await openOrm(syncSchedulerOrmConfig(db.urlFor('sync-scheduler')));
    try {
      // Before the upgrade, states were stored and marks materialized by a background loop (the later
      // migrations go down first).
      const later = await downThrough(orm, /_derived_stale$/);
      const t = ids();
      const colleague = randomUUID();
      const insertRef = (
        externalId: string,
        resource: string,
        status: string,
        staleSince: string | null,
        connectionId = t.connectionId,
      ) =>
        db.query(
          `insert into sync.external_reference
             (org_id, instance_id, connection_id, resource, external_id, local_record_id, status, last_synced_at,
              stale_since)
           values ($1, $2, $3, $4, $5, gen_random_uuid(), $6, now() - interval '3 days', $7::timestamptz)`,
          [t.orgId, t.instanceId, connectionId, resource, externalId, status, staleSince],
        );
      const mark = (at: string, materialized: boolean, connectionId = t.connectionId) =>
        db.query(
          `insert into sync.reference_stale_mark
             (org_id, instance_id, connection_id, stale_since, references_at_mark, materialized_at)
           values ($1, $2, $3, $4::timestamptz, 0, case when $5 then now() end)`,
          [t.orgId, t.instanceId, connectionId, at, materialized],
        );
      const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000).toISOString();
      const anHourAgo = new Date(Date.now() - 3_600_000).toISOString();
      await mark(twoDaysAgo, true);
      // Made stale by the materialized mark.
      await insertRef('made-stale', 'contacts', 'stale', twoDaysAgo);
      // Made stale, then restored by an invoices sync that succeeded a day ago.
      await insertRef('restored', 'invoices', 'synced', null);
      const [job] = await db.query<{ id: string }>(
        `insert into sync.sync_job (org_id, instance_id, connection_id, vendor, resource, schedule)
         values ($1, $2, $3, 'zendesk', 'invoices', '{"kind":"interval","minutes":60}') returning id`,
        [t.orgId, t.instanceId, t.connectionId],
      );
      await db.query(
        `insert into sync.sync_execution (job_id, org_id, connection_id, status, started_at, completed_at)
         values ($1, $2, $3, 'succeeded', now() - interval '1 day', now() - interval '1 day')`,
        [job!.id, t.orgId, t.connectionId],
      );
      // A colleague's reference, covered by a mark the loop had not materialized yet.
      await mark(anHourAgo, false, colleague);
      await insertRef('pending', 'tickets', 'synced', null, colleague);

      // Up to the newest: connection_scoped_restore copies the restores to each connection (states unchanged).
      expect(await migrateUp(orm, SYNC_SCHEMA.schema)).toEqual([...later].reverse());
      expect(
        await db.query(
          `select connection_id, sum(references_count)::int as references_count from sync.reference_tally
            where instance_id = $1 group by connection_id order by 2`,
          [t.instanceId],
        ),
      ).toEqual([
        { connection_id: colleague, references_count: 1 },
        { connection_id: t.connectionId, references_count: 2 },
      ]);
      const states = async (table: string) =>
        Object.fromEntries(
          (
            await db.query<{ external_id: string; status: string; stale_since: Date | null }>(
              `select external_id, status, stale_since from sync.${table} where instance_id = $1`,
              [t.instanceId],
            )
          ).map((r) => [r.external_id, [r.status, r.stale_since?.toISOString() ?? null]]),
        );
      const expected = {
        'made-stale': ['stale', twoDaysAgo],
        restored: ['synced', null],
        pending: ['stale', anHourAgo],
      };
      expect(await states('external_reference_state')).toEqual(expected);

      // down() writes the derived states back into the table.
      expect(await downThrough(orm, /_derived_stale$/)).toEqual(later);
      expect(await states('external_reference')).toEqual(expected);
      await migrateUp(orm, SYNC_SCHEMA.schema);
      expect(await states('external_reference_state')).toEqual(expected);
    } finally {
      await orm.close(true);
    }
  });
});
