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
});
