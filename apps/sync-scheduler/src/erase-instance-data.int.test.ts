import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import pg from 'pg';
import type { TSyncResource } from '@otesse/contracts';
import type { Bus } from '@otesse/messaging';
import { waitFor, type TTestDatabase } from '@otesse/testing';
import {
  instanceWithDefaultJobs,
  startSyncSchedulerTestBed,
  type TSyncSchedulerTestBed,
} from './test/sync-scheduler-test-bed';

/** The unlink saga's summary and its pivot, erase-data, engine off (rows set up by hand). */
describe('sync-scheduler instance data summary and erase (real Postgres + NATS)', () => {
  let bed: TSyncSchedulerTestBed;
  let db: TTestDatabase;
  let nc: NatsConnection;
  let bus: Bus;

  beforeAll(async () => {
    bed = await startSyncSchedulerTestBed('sync-erase-test', {
      engine: { enabled: false },
      busTimeoutMs: 10_000,
    });
    ({ db, nc, bus } = bed);
  });
  afterAll(async () => {
    await bed?.close();
  });

  type TScope = { orgId: string; instanceId: string };
  /** An instance with one connection's default jobs (and mappings); `orgId` to put it in an existing org. */
  const setup = (orgId: string = randomUUID()) => instanceWithDefaultJobs(bus, { orgId });
  const records = (t: TScope, resource: TSyncResource, n: number) =>
    db.query(
      `insert into sync.synced_record (org_id, instance_id, resource, external_id, data, synced_at, source_connection_id)
       select $1, $2, $3, 'r-' || gen_random_uuid(), '{}'::jsonb, now(), gen_random_uuid()
         from generate_series(1, $4::int)`,
      [t.orgId, t.instanceId, resource, n],
    );
  const refs = (t: TScope, connectionId: string, resource: TSyncResource, n: number) =>
    db.query(
      `insert into sync.external_reference
         (org_id, instance_id, connection_id, resource, external_id, local_record_id, last_synced_at)
       select $1, $2, $3, $4, 'x-' || gen_random_uuid(), gen_random_uuid(), now()
         from generate_series(1, $5::int)`,
      [t.orgId, t.instanceId, connectionId, resource, n],
    );
  /** Everything of an instance, counted row by row (the tallies are what the handlers read). */
  const rowsOf = async (t: TScope) =>
    (
      await db.query<Record<string, number>>(
        `select (select count(*)::int from sync.synced_record where instance_id = $1) as records,
                (select count(*)::int from sync.external_reference where instance_id = $1) as refs,
                (select count(*)::int from sync.reference_stale_mark where instance_id = $1) as marks,
                (select count(*)::int from sync.reference_restore where instance_id = $1) as restores,
                (select count(*)::int from sync.sync_job where instance_id = $1) as jobs,
                (select count(*)::int from sync.field_mapping where instance_id = $1) as mappings,
                (select count(*)::int from sync.sync_execution e join sync.sync_job j on j.id = e.job_id
                  where j.instance_id = $1) as executions,
                (select count(*)::int from sync.connection_lineage where instance_id = $1) as lineage,
                (select coalesce(sum(records_count), 0)::int from sync.record_tally where instance_id = $1)
                  as record_tally,
                (select coalesce(sum(references_count), 0)::int from sync.reference_tally where instance_id = $1)
                  as reference_tally`,
        [t.instanceId],
      )
    )[0]!;
  const summary = (t: TScope) =>
    bus.request('sync-scheduler.instances.data-summary', {
      orgId: t.orgId,
      instanceId: t.instanceId,
    });
  const erase = (t: TScope, idempotencyKey: string) =>
    bus.request('sync-scheduler.instances.erase-data', {
      orgId: t.orgId,
      instanceId: t.instanceId,
      idempotencyKey,
    });
  const storedKey = async (key: string) =>
    (await db.query(`select 1 from sync.processed_command where key = $1`, [key])).length;
  const execution = async (
    jobId: string,
    t: { orgId: string; connectionId: string },
    status: string,
  ) =>
    (
      await db.query<{ id: string }>(
        `insert into sync.sync_execution (job_id, org_id, connection_id, status, completed_at, lease_owner, lease_expires_at)
         values ($1, $2, $3, $4, case when $4 = 'running' then null else now() end, 'worker-x',
                 now() + interval '1 minute') returning id`,
        [jobId, t.orgId, t.connectionId, status],
      )
    )[0]!.id;
  const finish = (executionId: string) =>
    db.query(
      `update sync.sync_execution set status = 'succeeded', completed_at = now() where id = $1`,
      [executionId],
    );
  const EMPTY = { records: 0, references: 0, byResource: [] };

  it('summarizes from the tallies, erases exactly the instance’s data once, and keeps jobs, mappings, executions and lineage', async () => {
    const t = await setup();
    const colleague = randomUUID();
    await records(t, 'contacts', 3);
    await records(t, 'invoices', 2);
    await refs(t, t.connectionId, 'contacts', 2);
    await refs(t, colleague, 'contacts', 1);
    await refs(t, t.connectionId, 'invoices', 1);
    await refs(t, colleague, 'tickets', 2);
    await execution(t.jobs[0]!.id, t, 'succeeded');
    await db.query(
      `insert into sync.connection_lineage (connection_id, ancestor_id, org_id, instance_id) values ($1, $2, $3, $4)`,
      [t.connectionId, colleague, t.orgId, t.instanceId],
    );
    await bus.request('sync-scheduler.references.mark-stale', {
      orgId: t.orgId,
      instanceId: t.instanceId,
      connectionId: t.connectionId,
      scope: 'instance',
      idempotencyKey: `${randomUUID()}:mark-stale`,
    });
    await db.query(
      `insert into sync.reference_restore (instance_id, connection_id, resource, org_id, restored_at)
       values ($1, $2, 'contacts', $3, now())`,
      [t.instanceId, t.connectionId, t.orgId],
    );
    // Another instance of the same org, and another org's.
    const sibling = await setup(t.orgId);
    await records(sibling, 'contacts', 4);
    await refs(sibling, sibling.connectionId, 'contacts', 4);
    const stranger = await setup();
    await records(stranger, 'tickets', 2);
    await refs(stranger, stranger.connectionId, 'tickets', 1);
    const siblingBefore = await rowsOf(sibling);
    const strangerBefore = await rowsOf(stranger);

    expect(await summary(t)).toEqual({
      records: 5,
      references: 6,
      byResource: [
        { resource: 'contacts', records: 3, references: 3 },
        { resource: 'invoices', records: 2, references: 1 },
        { resource: 'tickets', records: 0, references: 2 },
      ],
    });
    // Another org asking about this instance, or an instance with nothing: zeros.
    expect(await summary({ orgId: stranger.orgId, instanceId: t.instanceId })).toEqual(EMPTY);
    expect(await summary({ orgId: t.orgId, instanceId: randomUUID() })).toEqual(EMPTY);
    expect(await summary(sibling)).toEqual({
      records: 4,
      references: 4,
      byResource: [{ resource: 'contacts', records: 4, references: 4 }],
    });

    // Another org's erase of this instance erases nothing.
    expect(
      await erase(
        { orgId: stranger.orgId, instanceId: t.instanceId },
        `${randomUUID()}:erase-data`,
      ),
    ).toEqual({ recordsErased: 0, referencesErased: 0 });
    expect(await summary(t)).toMatchObject({ records: 5, references: 6 });

    const before = await rowsOf(t);
    expect(before).toMatchObject({ marks: 1, restores: 1, jobs: 3, executions: 1, lineage: 1 });
    const key = `${randomUUID()}:erase-data`;
    const res = await erase(t, key);
    expect(res).toEqual({ recordsErased: 5, referencesErased: 6 });
    expect(await summary(t)).toEqual(EMPTY);
    expect(await rowsOf(t)).toEqual({
      ...before,
      records: 0,
      refs: 0,
      marks: 0,
      restores: 0,
      record_tally: 0,
      reference_tally: 0,
    });
    // The tallies read zero (or have no row) for every resource, not only in sum.
    expect(
      await db.query(
        `select 1 from sync.record_tally where instance_id = $1 and records_count <> 0
         union all
         select 1 from sync.reference_tally where instance_id = $1 and references_count <> 0`,
        [t.instanceId],
      ),
    ).toEqual([]);
    expect(await rowsOf(sibling)).toEqual(siblingBefore);
    expect(await rowsOf(stranger)).toEqual(strangerBefore);
    expect(await summary(stranger)).toEqual({
      records: 2,
      references: 1,
      byResource: [{ resource: 'tickets', records: 2, references: 1 }],
    });

    // A replay answers the first result and erases nothing that came since.
    await records(t, 'contacts', 2);
    await refs(t, t.connectionId, 'invoices', 1);
    expect(await erase(t, key)).toEqual(res);
    expect(await summary(t)).toEqual({
      records: 2,
      references: 1,
      byResource: [
        { resource: 'contacts', records: 2, references: 0 },
        { resource: 'invoices', records: 0, references: 1 },
      ],
    });
    expect(await rowsOf(t)).toMatchObject({ records: 2, refs: 1 });

    // The same key for another command is refused, both ways.
    await expect(
      bus.request('sync-scheduler.references.mark-stale', {
        orgId: t.orgId,
        instanceId: t.instanceId,
        connectionId: t.connectionId,
        scope: 'instance',
        idempotencyKey: key,
      }),
    ).rejects.toMatchObject({ code: 'CONFLICT', reason: 'idempotency_key_reused' });
    const markKey = `${randomUUID()}:mark-stale`;
    await bus.request('sync-scheduler.references.mark-stale', {
      orgId: t.orgId,
      instanceId: t.instanceId,
      connectionId: t.connectionId,
      scope: 'instance',
      idempotencyKey: markKey,
    });
    await expect(erase(t, markKey)).rejects.toMatchObject({
      code: 'CONFLICT',
      reason: 'idempotency_key_reused',
    });
    expect(await rowsOf(t)).toMatchObject({ records: 2, refs: 1 });
  });

  it('refuses while a sync of the instance runs (nothing erased, key not kept); the same key erases once it ended', async () => {
    const t = await setup();
    await records(t, 'tickets', 3);
    await refs(t, t.connectionId, 'tickets', 3);
    const exec = await execution(t.jobs[2]!.id, t, 'running');
    const key = `${randomUUID()}:erase-data`;
    await expect(erase(t, key)).rejects.toMatchObject({ code: 'CONFLICT', reason: 'sync_running' });
    expect(await rowsOf(t)).toMatchObject({ records: 3, refs: 3, record_tally: 3 });
    expect(await storedKey(key)).toBe(0);
    // Another org's running execution of its own instance does not hold this one.
    const other = await setup();
    await execution(other.jobs[0]!.id, other, 'running');

    await finish(exec);
    expect(await erase(t, key)).toEqual({ recordsErased: 3, referencesErased: 3 });
    expect(await storedKey(key)).toBe(1);
    expect(await summary(t)).toEqual(EMPTY);
    expect(await rowsOf(t)).toMatchObject({ executions: 1, jobs: 3 });
  });

  it('sees an execution a claim commits while the erase waits for the job’s row lock', async () => {
    const t = await setup();
    await records(t, 'contacts', 2);
    // A claim in flight: it holds the job's row lock and has inserted its running execution, uncommitted.
    const claim = new pg.Client({ connectionString: db.adminUrl });
    await claim.connect();
    const key = `${randomUUID()}:erase-data`;
    let answer: Promise<unknown> | undefined;
    try {
      await claim.query('begin');
      await claim.query(`select id from sync.sync_job where id = $1 for update`, [t.jobs[0]!.id]);
      const exec = (
        await claim.query<{ id: string }>(
          `insert into sync.sync_execution (job_id, org_id, connection_id, status, lease_owner, lease_expires_at)
           values ($1, $2, $3, 'running', 'worker-x', now() + interval '1 minute') returning id`,
          [t.jobs[0]!.id, t.orgId, t.connectionId],
        )
      ).rows[0]!.id;
      answer = erase(t, key).catch((e: unknown) => e);
      await waitFor(
        async () =>
          (
            await db.query<{ n: number }>(
              `select count(*)::int as n from pg_stat_activity
                where datname = current_database() and wait_event_type = 'Lock'`,
            )
          )[0]!.n >= 1,
        { what: 'the erase to wait for the job' },
      );
      await claim.query('commit');
      expect(await answer).toMatchObject({ code: 'CONFLICT', reason: 'sync_running' });
      expect(await rowsOf(t)).toMatchObject({ records: 2 });
      await finish(exec);
    } finally {
      await claim.end();
    }
    expect(await erase(t, key)).toEqual({ recordsErased: 2, referencesErased: 0 });
  });

  it('answers malformed requests with a typed BAD_REQUEST and erases nothing', async () => {
    const t = await setup();
    await records(t, 'contacts', 1);
    const bodies: [string, unknown][] = [
      ['sync-scheduler.instances.erase-data', { orgId: t.orgId, instanceId: t.instanceId }],
      [
        'sync-scheduler.instances.erase-data',
        { orgId: t.orgId, instanceId: t.instanceId, idempotencyKey: '' },
      ],
      [
        'sync-scheduler.instances.erase-data',
        { orgId: t.orgId, instanceId: 'nope', idempotencyKey: 'k' },
      ],
      [
        'sync-scheduler.instances.erase-data',
        { ...t, idempotencyKey: 'k' }, // connectionId and jobs: not in the contract
      ],
      ['sync-scheduler.instances.data-summary', { orgId: t.orgId }],
      ['sync-scheduler.instances.data-summary', { orgId: 'x', instanceId: t.instanceId }],
    ];
    for (const [subject, body] of [
      ...bodies,
      ['sync-scheduler.instances.erase-data', 'not json'] as [string, unknown],
    ]) {
      const data = typeof body === 'string' ? body : JSON.stringify(body);
      const msg = await nc.request(subject, new TextEncoder().encode(data), { timeout: 5_000 });
      expect(msg.headers?.get('Nats-Service-Error-Code'), `${subject} ${data}`).toBe('400');
      expect(JSON.parse(new TextDecoder().decode(msg.data))).toMatchObject({
        error: { code: 'BAD_REQUEST' },
      });
    }
    expect(await rowsOf(t)).toMatchObject({ records: 1 });
  });
});
