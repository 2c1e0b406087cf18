import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDown, migrateUp, openOrm } from '@otesse/persistence';
import { createTestDatabase, schemaObjects, type TTestDatabase } from '@otesse/testing';
import { SYNC_SCHEMA, syncSchedulerOrmConfig } from './db/orm.config';
import { migrations } from './migrations';

describe('sync-scheduler migrations (real Postgres)', () => {
  let db: TTestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('migrate down to an empty schema and back up, with skipped executions on the way down', async () => {
    const orm = await openOrm(syncSchedulerOrmConfig(db.urlFor('sync-scheduler')));
    const inSchema = () => schemaObjects(db, SYNC_SCHEMA.schema);
    try {
      expect(await migrateUp(orm, SYNC_SCHEMA.schema)).toHaveLength(migrations.length);
      const up = await inSchema();
      // What a scheduler that has run syncs holds: a skipped run (the engine writes those) beside the others.
      const [job] = await db.query<{ id: string }>(
        `insert into sync.sync_job (org_id, instance_id, connection_id, vendor, resource, schedule)
         values ($1, $2, $3, 'zendesk', 'tickets', '{"kind":"interval","everyMs":60000}') returning id`,
        [randomUUID(), randomUUID(), randomUUID()],
      );
      const execution = (status: string, reason: string | null) =>
        db.query<{ id: string }>(
          `insert into sync.sync_execution (job_id, org_id, connection_id, status, completed_at, error_reason)
           select id, org_id, connection_id, $2, case when $2 = 'running' then null else now() end, $3
             from sync.sync_job where id = $1 returning id`,
          [job!.id, status, reason],
        );
      const [skipped] = await execution('skipped', 'no_credentials');
      await execution('succeeded', null);
      await execution('running', null);

      // Down past Migration20261121235059 (which added 'skipped' to the status check).
      for (;;) {
        const down = await migrateDown(orm);
        expect(down).toHaveLength(1);
        if (down[0] === 'Migration20261121235059') break;
      }
      const rows = await db.query<{ id: string; status: string; error: string | null }>(
        `select id, status, error from sync.sync_execution order by status`,
      );
      expect(rows.map((r) => r.status)).toEqual(['failed', 'running', 'succeeded']);
      expect(rows[0]).toEqual({
        id: skipped!.id,
        status: 'failed',
        error: 'skipped: no_credentials',
      });

      await migrateUp(orm, SYNC_SCHEMA.schema);
      // One migration at a time, newest first, down to nothing, and up again.
      while ((await migrateDown(orm)).length > 0);
      expect(await inSchema()).toEqual({ relations: [], functions: [] });
      expect(await migrateUp(orm, SYNC_SCHEMA.schema)).toHaveLength(migrations.length);
      expect(await inSchema()).toEqual(up);
    } finally {
      await orm.close(true);
    }
  });

  it('execution_tally counts the executions already there, then every insert and change of status; a deleted one stays counted', async () => {
    const tallyDb = await createTestDatabase();
    const orm = await openOrm(syncSchedulerOrmConfig(tallyDb.urlFor('sync-scheduler')));
    try {
      await migrateUp(orm, SYNC_SCHEMA.schema);
      expect(await migrateDown(orm)).toEqual(['Migration20261124110000_reference_counts']);
      expect(await migrateDown(orm)).toEqual(['Migration20261124100000_execution_tally']);
      const [job] = await tallyDb.query<{ id: string }>(
        `insert into sync.sync_job (org_id, instance_id, connection_id, vendor, resource, schedule)
         values ($1, $2, $3, 'zendesk', 'tickets', '{"kind":"interval","everyMs":60000}') returning id`,
        [randomUUID(), randomUUID(), randomUUID()],
      );
      const insert = (statuses: string[]) =>
        tallyDb.query<{ id: string }>(
          `insert into sync.sync_execution (job_id, org_id, connection_id, status, completed_at)
           select j.id, j.org_id, j.connection_id, s, case when s = 'running' then null else now() end
             from sync.sync_job j, unnest($2::text[]) s where j.id = $1 returning id`,
          [job!.id, statuses],
        );
      await insert(['succeeded', 'succeeded', 'failed', 'cancelled']);
      const tally = async () =>
        Object.fromEntries(
          (
            await tallyDb.query<{ status: string; n: string }>(
              `select status, executions_count as n from sync.execution_tally where job_id = $1 and executions_count <> 0`,
              [job!.id],
            )
          ).map((r) => [r.status, Number(r.n)]),
        );
      await migrateUp(orm, SYNC_SCHEMA.schema);
      expect(await tally()).toEqual({ succeeded: 2, failed: 1, cancelled: 1 });
      // A run starts, then ends; two end at once (one statement); the sweep deletes old ones.
      const [running] = await insert(['running']);
      expect(await tally()).toEqual({ succeeded: 2, failed: 1, cancelled: 1, running: 1 });
      await tallyDb.query(
        `update sync.sync_execution set status = 'succeeded', completed_at = now() where id = $1`,
        [running!.id],
      );
      // An update that changes no status counts nothing.
      await tallyDb.query(
        `update sync.sync_execution set batches = batches + 1 where job_id = $1`,
        [job!.id],
      );
      expect(await tally()).toEqual({ succeeded: 3, failed: 1, cancelled: 1 });
      await tallyDb.query(
        `update sync.sync_execution set status = 'cancelled' where job_id = $1 and status = 'failed'`,
        [job!.id],
      );
      await tallyDb.query(
        `delete from sync.sync_execution where job_id = $1 and status = 'succeeded'`,
        [job!.id],
      );
      expect(await tally()).toEqual({ succeeded: 3, cancelled: 2 });
    } finally {
      await orm.close(true);
      await tallyDb.drop();
    }
  });

  it("pause_cleared_by_disconnect lifts the pause marks whose saga's lift is on record, and only those", async () => {
    const repairDb = await createTestDatabase();
    const orm = await openOrm(syncSchedulerOrmConfig(repairDb.urlFor('sync-scheduler')));
    try {
      await migrateUp(orm, SYNC_SCHEMA.schema);
      expect(await migrateDown(orm)).toEqual(['Migration20261124110000_reference_counts']);
      expect(await migrateDown(orm)).toEqual(['Migration20261124100000_execution_tally']);
      expect(await migrateDown(orm)).toEqual([
        'Migration20261124090000_pause_cleared_by_disconnect',
      ]);
      const [compensated, resumed, live] = [randomUUID(), randomUUID(), randomUUID()];
      const connectionId = randomUUID();
      for (const [resource, saga] of [
        ['contacts', compensated],
        ['invoices', resumed],
        ['tickets', live],
      ] as const) {
        await repairDb.query(
          `insert into sync.sync_job (org_id, instance_id, connection_id, vendor, resource, schedule, paused_by_saga_id)
           values ($1, $2, $3, 'zendesk', $4, '{"kind":"interval","everySeconds":60}', $5)`,
          [randomUUID(), randomUUID(), connectionId, resource, saga],
        );
      }
      // A pause committed after its compensation lifted nothing; another after its saga's resume (same race).
      await repairDb.query(
        `insert into sync.processed_command (key, subject, result, created_at)
         values ($1, 'sync-scheduler.jobs.reenable-for-saga', '{}', now()),
                ($2, 'sync-scheduler.jobs.reenable-for-saga', '{}', now()),
                ($3, 'sync-scheduler.jobs.disable-for-connection', '{}', now())`,
        [`${compensated}:pause-sync:compensate`, `${resumed}:resume-sync`, `${live}:pause-sync`],
      );
      await migrateUp(orm, SYNC_SCHEMA.schema);
      expect(
        await repairDb.query(
          `select resource, paused_by_saga_id from sync.sync_job where connection_id = $1 order by resource`,
          [connectionId],
        ),
      ).toEqual([
        { resource: 'contacts', paused_by_saga_id: null },
        { resource: 'invoices', paused_by_saga_id: null },
        // A change of user still between its pause and its lift keeps its pause.
        { resource: 'tickets', paused_by_saga_id: live },
      ]);
    } finally {
      await orm.close(true);
      await repairDb.drop();
    }
  });

  it('reference_counts backfills the record and reference tallies, keeps them in the writers’ statements, and counts as the view does; down() restores the tally per connection', async () => {
    const countsDb = await createTestDatabase();
    const orm = await openOrm(syncSchedulerOrmConfig(countsDb.urlFor('sync-scheduler')));
    try {
      await migrateUp(orm, SYNC_SCHEMA.schema);
      expect(await migrateDown(orm)).toEqual(['Migration20261124110000_reference_counts']);
      const [org, instance, mine, theirs] = [
        randomUUID(),
        randomUUID(),
        randomUUID(),
        randomUUID(),
      ];
      const write = (connectionId: string, resource: string, ids: string[], at = 'now()') =>
        countsDb.query(
          `with rec as (
             insert into sync.synced_record (org_id, instance_id, resource, external_id, data, synced_at, source_connection_id)
             select $1, $2, $4, x, '{}', now(), $3 from unnest($5::text[]) x
             on conflict (instance_id, resource, external_id) do update set synced_at = excluded.synced_at
             returning id, external_id)
           insert into sync.external_reference
             (org_id, instance_id, connection_id, resource, external_id, local_record_id, last_synced_at)
           select $1, $2, $3, $4, external_id, id, ${at} from rec
           on conflict (instance_id, resource, external_id) do update
             set connection_id = excluded.connection_id, last_synced_at = excluded.last_synced_at`,
          [org, instance, connectionId, resource, ids],
        );
      // Before the upgrade: references of two connections and two resources, one connection marked since.
      await write(mine, 'contacts', ['c-1', 'c-2', 'c-3'], `now() - interval '1 hour'`);
      await write(mine, 'tickets', ['t-1'], `now() - interval '1 hour'`);
      await write(theirs, 'contacts', ['c-4', 'c-5'], `now() - interval '1 hour'`);
      await countsDb.query(
        `insert into sync.reference_stale_mark (org_id, instance_id, connection_id, stale_since, references_at_mark)
         values ($1, $2, $3, now() - interval '30 minutes', 4)`,
        [org, instance, mine],
      );
      // A sync of the user's contacts under way since the mark.
      await write(mine, 'contacts', ['c-1'], `now() - interval '10 minutes'`);
      const counts = async () =>
        (
          await countsDb.query<{ synced: number; stale: number }>(
            `select synced::int, stale::int from sync.reference_state_counts($1, $2, null)`,
            [org, instance],
          )
        )[0];
      const viewCounts = async () =>
        (
          await countsDb.query<{ synced: number; stale: number }>(
            `select count(*) filter (where status = 'synced')::int as synced,
                    count(*) filter (where status = 'stale')::int as stale
               from sync.external_reference_state where instance_id = $1`,
            [instance],
          )
        )[0];
      const records = async () =>
        Object.fromEntries(
          (
            await countsDb.query<{ resource: string; n: string }>(
              `select resource, records_count as n from sync.record_tally where instance_id = $1`,
              [instance],
            )
          ).map((r) => [r.resource, Number(r.n)]),
        );
      expect(await viewCounts()).toEqual({ synced: 3, stale: 3 });

      await migrateUp(orm, SYNC_SCHEMA.schema);
      expect(await records()).toEqual({ contacts: 5, tickets: 1 });
      expect(await counts()).toEqual({ synced: 3, stale: 3 });
      expect(
        await countsDb.query(
          `select connection_id = $2 as mine, resource, references_count as n from sync.reference_tally
            where instance_id = $1 order by 1, 2`,
          [instance, mine],
        ),
      ).toEqual([
        { mine: false, resource: 'contacts', n: 2 },
        { mine: true, resource: 'contacts', n: 3 },
        { mine: true, resource: 'tickets', n: 1 },
      ]);
      // New records count, records written again do not, deleted ones leave the count.
      await write(theirs, 'contacts', ['c-4', 'c-6', 'c-7']);
      await write(theirs, 'invoices', ['i-1']);
      await countsDb.query(
        `delete from sync.synced_record where instance_id = $1 and external_id = 'c-7'`,
        [instance],
      );
      expect(await records()).toEqual({ contacts: 6, tickets: 1, invoices: 1 });
      // The mark step counts per resource now, and once: what the user's mark left synced (c-1) and all of theirs
      // (c-7's record was deleted; its reference stays).
      await countsDb.query(`select sync.mark_references_stale($1, $2, $3, null)`, [
        `${randomUUID()}:mark-stale`,
        org,
        instance,
      ]);
      expect(
        (
          await countsDb.query<{ n: number }>(
            `select references_at_mark as n from sync.reference_stale_mark where instance_id = $1 and connection_id is null`,
            [instance],
          )
        )[0],
      ).toEqual({ n: 6 });
      expect(await counts()).toEqual({ synced: 0, stale: 9 });
      expect(await viewCounts()).toEqual({ synced: 0, stale: 9 });

      expect(await migrateDown(orm)).toEqual(['Migration20261124110000_reference_counts']);
      expect(
        await countsDb.query(
          `select connection_id = $2 as mine, references_count as n from sync.reference_tally
            where instance_id = $1 order by 1`,
          [instance, mine],
        ),
      ).toEqual([
        { mine: false, n: 5 },
        { mine: true, n: 4 },
      ]);
      expect(await viewCounts()).toEqual({ synced: 0, stale: 9 });
      // The earlier tally trigger is back: a reference written after the down counts in its connection's row.
      await write(mine, 'tickets', ['t-2']);
      expect(
        await countsDb.query(
          `select references_count as n from sync.reference_tally where instance_id = $1 and connection_id = $2`,
          [instance, mine],
        ),
      ).toEqual([{ n: 5 }]);
    } finally {
      await orm.close(true);
      await countsDb.drop();
    }
  });
});
