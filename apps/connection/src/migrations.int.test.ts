import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@otesse/logging';
import { connectNats } from '@otesse/messaging';
import { migrateDown, migrateUp, openOrm } from '@otesse/persistence';
import {
  createTestDatabase,
  schemaObjects,
  startNatsServer,
  streamMessagesAbout,
  waitFor,
  type TTestDatabase,
} from '@otesse/testing';
import { startConnection } from './connection.service';
import { CONNECTION_SCHEMA, connectionOrmConfig } from './db/orm.config';
import { migrations } from './migrations';

describe('connection migrations (real Postgres)', () => {
  let db: TTestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('migrate down to an empty schema and back up (down() restores each earlier function definition and undoes the first)', async () => {
    const orm = await openOrm(connectionOrmConfig(db.urlFor('connection')));
    const inSchema = () => schemaObjects(db, CONNECTION_SCHEMA.schema);
    try {
      expect(await migrateUp(orm, CONNECTION_SCHEMA.schema)).toHaveLength(migrations.length);
      const up = await inSchema();
      expect(up.functions).toEqual([
        'begin_disconnect',
        'command_error',
        'complete_disconnect',
        'connection_json',
        'instance_json',
        'iso_ms',
        'lock_instance_of',
        'replay_of',
        'store_reply',
      ]);
      // Down past instance_revoking, instance_json_plpgsql, abandoned_outbox, witness_without_stray_locks, begin_authorizes, complete_fast_path and begin_without_instance_lock:
      // the earlier definitions are back (one begin_disconnect each time, its arguments as that version had them);
      // up again.
      const locksInstance = /lock_instance_of\(p_org, p_connection\)/;
      const body = async (fn: string) =>
        (
          await db.query<{ src: string }>(
            `select p.prosrc as src from pg_proc p join pg_namespace n on n.oid = p.pronamespace
              where n.nspname = $1 and p.proname = $2`,
            [CONNECTION_SCHEMA.schema, fn],
          )
        )[0]!.src;
      const args = async () =>
        (
          await db.query<{ args: string }>(
            `select pg_get_function_identity_arguments(p.oid) as args from pg_proc p
               join pg_namespace n on n.oid = p.pronamespace where n.nspname = $1 and p.proname = 'begin_disconnect'`,
            [CONNECTION_SCHEMA.schema],
          )
        ).map((r) => r.args);
      // Only the instance's last live connection (to hold it) and an error connection (to respect the hold) take
      // the instance's lock.
      expect(await body('begin_disconnect')).toMatch(
        /if v_others is false or v_error then perform "connection".lock_instance_of\(p_org, p_connection\)/,
      );
      expect(await body('begin_disconnect')).toMatch(/'FORBIDDEN', 'not_owner'/);
      expect(await args()).toEqual([
        'p_key text, p_org uuid, p_connection uuid, p_saga uuid, p_actor uuid, p_may_manage boolean',
      ]);
      expect(await body('complete_disconnect')).toMatch(/'OT002'/);
      const column = async (table: string, name: string) =>
        (
          await db.query(
            `select 1 from information_schema.columns where table_schema = $1
                and table_name = $2 and column_name = $3`,
            [CONNECTION_SCHEMA.schema, table, name],
          )
        ).length;
      // Down past webhook_last_refusal, then webhook_last_delivery: the last-refusal columns are gone, the last delivery is still there;
      // then that column is gone too.
      const index = async (name: string) =>
        (
          await db.query(`select 1 from pg_indexes where schemaname = $1 and indexname = $2`, [
            CONNECTION_SCHEMA.schema,
            name,
          ])
        ).length;
      // Down past event_outbox: the owed events' table is gone.
      const table = async (name: string) =>
        (
          await db.query(
            `select 1 from information_schema.tables where table_schema = $1 and table_name = $2`,
            [CONNECTION_SCHEMA.schema, name],
          )
        ).length;
      // Down past abandoned_into_event_outbox: the abandoned outbox's columns and index are back (empty).
      const abandonedOutbox = async () => [
        await column('integration_connection', 'abandoned_event_id'),
        await column('integration_connection', 'abandoned_at'),
        await column('integration_connection', 'abandoned_event_published_at'),
        await index('integration_connection_abandoned_outbox_idx'),
      ];
      // Down past unlink_tenant: the unlink's hold and time are gone, and instance_json no longer names them.
      expect(await column('integration_instance', 'unlink_saga_id')).toBe(1);
      expect(await column('integration_instance', 'tenant_unlinked_at')).toBe(1);
      expect(await body('instance_json')).toMatch(
        /'unlinkInProgress', i\.unlink_saga_id is not null/,
      );
      expect(await body('begin_disconnect')).toMatch(/unlink_in_progress/);
      expect(await migrateDown(orm)).toEqual([expect.stringMatching(/_unlink_tenant$/)]);
      expect(await body('begin_disconnect')).not.toMatch(/unlink/);
      expect(await column('integration_instance', 'unlink_saga_id')).toBe(0);
      expect(await column('integration_instance', 'tenant_unlinked_at')).toBe(0);
      expect(await body('instance_json')).not.toMatch(/unlinkInProgress|tenantUnlinkedAt/);
      expect(await body('instance_json')).toMatch(/'tenantId', i\.tenant_id/);
      // Down past instance_tenant: the instance's tenant pin is gone, and instance_json no longer names it.
      expect(await column('integration_instance', 'tenant_id')).toBe(1);
      expect(await body('instance_json')).toMatch(/'tenantId', i\.tenant_id/);
      expect(await migrateDown(orm)).toEqual([expect.stringMatching(/_instance_tenant$/)]);
      expect(await column('integration_instance', 'tenant_id')).toBe(0);
      expect(await body('instance_json')).not.toMatch(/tenantId/);
      // Down past bounded_reads: the members' and the slots' indexes are gone.
      expect(await index('integration_connection_members_idx')).toBe(1);
      expect(await index('integration_connection_slot_idx')).toBe(1);
      expect(await migrateDown(orm)).toEqual([expect.stringMatching(/_bounded_reads$/)]);
      expect(await index('integration_connection_members_idx')).toBe(0);
      expect(await index('integration_connection_slot_idx')).toBe(0);
      expect(await abandonedOutbox()).toEqual([0, 0, 0, 0]);
      expect(await migrateDown(orm)).toEqual([
        expect.stringMatching(/_abandoned_into_event_outbox$/),
      ]);
      expect(await abandonedOutbox()).toEqual([1, 1, 1, 1]);
      expect(await table('event_outbox')).toBe(1);
      expect(await migrateDown(orm)).toEqual([expect.stringMatching(/_event_outbox$/)]);
      expect(await table('event_outbox')).toBe(0);
      // Down past account_grant_holders: begin_disconnect no longer answers who else holds the account's grant,
      // and the index that answers it is gone.
      expect(await body('begin_disconnect')).toMatch(/'accountGrantInUse'/);
      expect(await index('integration_connection_account_idx')).toBe(1);
      expect(await migrateDown(orm)).toEqual([expect.stringMatching(/_account_grant_holders$/)]);
      expect(await body('begin_disconnect')).not.toMatch(/accountGrantInUse/);
      expect(await body('begin_disconnect')).toMatch(/'instanceRevoking'/);
      expect(await index('integration_connection_account_idx')).toBe(0);
      // Down past retired_credentials: the reconnects' retired credential ids are gone.
      expect(await migrateDown(orm)).toEqual([expect.stringMatching(/_retired_credentials$/)]);
      expect(await column('integration_connection', 'retired_credential_ids')).toBe(0);
      // Down past idempotency_retention: the purge's index of keys that are not a saga's is gone.
      expect(await migrateDown(orm)).toEqual([expect.stringMatching(/_idempotency_retention$/)]);
      expect(
        await db.query(`select 1 from pg_indexes where schemaname = $1 and indexname = $2`, [
          CONNECTION_SCHEMA.schema,
          'processed_command_other_created_idx',
        ]),
      ).toEqual([]);
      expect(await column('webhook_endpoint', 'last_refused_at')).toBe(1);
      await migrateDown(orm);
      expect(await column('webhook_endpoint', 'last_refused_at')).toBe(0);
      expect(await column('webhook_endpoint', 'last_refusal_reason')).toBe(0);
      expect(await column('webhook_endpoint', 'last_delivery_at')).toBe(1);
      await migrateDown(orm);
      expect(await column('webhook_endpoint', 'last_delivery_at')).toBe(0);
      // Down past instance_revoking: begin_disconnect no longer holds the instance, the column is gone.
      const holdColumn = async () =>
        (
          await db.query(
            `select 1 from information_schema.columns where table_schema = $1
                and table_name = 'integration_instance' and column_name = 'revoking_saga_id'`,
            [CONNECTION_SCHEMA.schema],
          )
        ).length;
      expect(await body('begin_disconnect')).toMatch(/revoking_saga_id = p_saga/);
      expect(await body('complete_disconnect')).toMatch(/revoking_saga_id = null/);
      expect(await holdColumn()).toBe(1);
      await migrateDown(orm);
      expect(await body('begin_disconnect')).not.toMatch(/revoking_saga_id/);
      expect(await body('complete_disconnect')).not.toMatch(/revoking_saga_id/);
      expect(await holdColumn()).toBe(0);
      expect(await body('begin_disconnect')).not.toMatch(locksInstance);
      // Down past instance_json_plpgsql: the SQL-language body is back, then up again to compare.
      const language = async (fn: string) =>
        (
          await db.query<{ lang: string }>(
            `select l.lanname as lang from pg_proc p join pg_namespace n on n.oid = p.pronamespace
               join pg_language l on l.oid = p.prolang where n.nspname = $1 and p.proname = $2`,
            [CONNECTION_SCHEMA.schema, fn],
          )
        )[0]!.lang;
      expect(await language('instance_json')).toBe('plpgsql');
      await migrateDown(orm);
      expect(await language('instance_json')).toBe('sql');
      // Down past abandoned_outbox: its columns and indexes are gone, the functions untouched.
      const outbox = async () =>
        (
          await db.query<{ name: string }>(
            `select column_name as name from information_schema.columns
              where table_schema = $1 and table_name = 'integration_connection' and column_name like 'abandoned%'
             union all
             select indexname from pg_indexes where schemaname = $1 and indexname in
               ('integration_connection_pending_idx', 'integration_connection_abandoned_outbox_idx')
             order by 1`,
            [CONNECTION_SCHEMA.schema],
          )
        ).map((r) => r.name);
      expect(await outbox()).toEqual([
        'abandoned_at',
        'abandoned_event_id',
        'abandoned_event_published_at',
        'integration_connection_abandoned_outbox_idx',
        'integration_connection_pending_idx',
      ]);
      await migrateDown(orm);
      expect(await outbox()).toEqual([]);
      expect(await body('complete_disconnect')).toMatch(/'OT002'/);
      await migrateDown(orm);
      expect(await body('complete_disconnect')).not.toMatch(/'OT002'/);
      expect(await body('complete_disconnect')).toMatch(/for share/);
      await migrateDown(orm);
      expect(await args()).toEqual(['p_key text, p_org uuid, p_connection uuid, p_saga uuid']);
      expect(await body('begin_disconnect')).not.toMatch(/FORBIDDEN/);
      await migrateDown(orm);
      await migrateDown(orm);
      expect(await body('begin_disconnect')).toMatch(locksInstance);
      expect(await body('complete_disconnect')).not.toMatch(/for share/);
      await migrateUp(orm, CONNECTION_SCHEMA.schema);
      expect(await body('complete_disconnect')).toMatch(/for share/);
      // One migration at a time, newest first, down to nothing.
      while ((await migrateDown(orm)).length > 0);
      expect(await inSchema()).toEqual({ relations: [], functions: [] });
      expect(await migrateUp(orm, CONNECTION_SCHEMA.schema)).toHaveLength(migrations.length);
      expect(await inSchema()).toEqual(up);
    } finally {
      await orm.close(true);
    }
  });

  it('carries every unpublished abandoned event (and a system abandon’s audit entry) into the event outbox; the sweep publishes them as the old outbox did', async () => {
    const data = await createTestDatabase();
    const nats = await startNatsServer();
    const nc = await connectNats({ url: nats.url, name: 'test' });
    let svc: Awaited<ReturnType<typeof startConnection>> | undefined;
    const orm = await openOrm(connectionOrmConfig(data.urlFor('connection')));
    let ormOpen = true;
    try {
      // The schema as it was before abandoned_into_event_outbox, with abandoned connects in its outbox.
      await orm.getMigrator().up({ to: 'Migration20261123212941_event_outbox' });
      const orgId = randomUUID();
      const instanceId = randomUUID();
      await data.query(
        `insert into connection.integration_instance (id, org_id, vendor, status, config, created_at, updated_at)
         values ($1, $2, 'servicenow', 'revoked', '{}', now(), now())`,
        [instanceId, orgId],
      );
      const abandoned = async (o: {
        reason: string | null;
        at: string;
        published?: boolean;
        level?: 'app' | 'user';
      }) => {
        const c = { id: randomUUID(), userId: randomUUID(), eventId: randomUUID() };
        await data.query(
          `insert into connection.integration_connection (id, org_id, instance_id, vendor, level, user_id, status,
             details, error_reason, created_at, updated_at, abandoned_event_id, abandoned_at,
             abandoned_event_published_at)
           values ($1, $2, $3, 'servicenow', $4, $5, 'error', '{}', $6, now(), now(), $7, $8, $9)`,
          [
            c.id,
            orgId,
            instanceId,
            o.level ?? 'user',
            c.userId,
            o.reason,
            c.eventId,
            o.at,
            o.published ? o.at : null,
          ],
        );
        return c;
      };
      const failed = await abandoned({
        reason: 'connect_failed',
        at: '2026-11-20T10:11:12.345978Z',
      });
      const expired = await abandoned({
        reason: 'connect_expired',
        at: '2026-11-20T10:12:00.000Z',
        level: 'app',
      });
      const stale = await abandoned({ reason: 'stale_pending', at: '2026-11-20T10:13:00.5Z' });
      // An abandon of an older version that stored no reason: published as connect_expired, as it was.
      const noReason = await abandoned({ reason: null, at: '2026-11-20T10:14:00.000Z' });
      const published = await abandoned({
        reason: 'connect_expired',
        at: '2026-11-20T10:15:00.000Z',
        published: true,
      });

      expect(await migrateUp(orm, CONNECTION_SCHEMA.schema)).toEqual([
        expect.stringMatching(/_abandoned_into_event_outbox$/),
        expect.stringMatching(/_bounded_reads$/),
        expect.stringMatching(/_instance_tenant$/),
        expect.stringMatching(/_unlink_tenant$/),
      ]);
      const owed = await data.query<{
        connection_id: string;
        subject: string;
        msg_id: string;
        payload: Record<string, unknown>;
        ctx: Record<string, unknown>;
        publish_after: Date;
      }>(
        `select connection_id, subject, msg_id, payload, ctx, publish_after from connection.event_outbox
          where published_at is null order by publish_after, subject`,
      );
      const event = (
        c: { id: string; userId: string; eventId: string },
        o: { occurredAt: string; level: string; reason: string },
      ) => ({
        eventId: c.eventId,
        orgId,
        vendor: 'servicenow',
        instanceId,
        connectionId: c.id,
        userId: c.userId,
        ...o,
      });
      const audit = (
        c: { id: string; userId: string; eventId: string },
        o: { occurredAt: string; reason: string; level: string },
      ) => ({
        eventId: c.eventId,
        orgId,
        actorUserId: null,
        onBehalfOfUserId: c.userId,
        action: 'connection.connect_failed',
        provider: 'servicenow',
        targets: { instanceId, connectionId: c.id },
        outcome: 'failure',
        details: { reason: o.reason, level: o.level },
        occurredAt: o.occurredAt,
        ip: null,
        traceId: null,
      });
      const expected = [
        {
          c: failed,
          subject: 'integrations.connection.abandoned',
          payload: event(failed, {
            occurredAt: '2026-11-20T10:11:12.345Z',
            level: 'user',
            reason: 'connect_failed',
          }),
        },
        {
          c: expired,
          subject: 'audit.entries.append',
          payload: audit(expired, {
            occurredAt: '2026-11-20T10:12:00.000Z',
            reason: 'connect_expired',
            level: 'app',
          }),
        },
        {
          c: expired,
          subject: 'integrations.connection.abandoned',
          payload: event(expired, {
            occurredAt: '2026-11-20T10:12:00.000Z',
            level: 'app',
            reason: 'connect_expired',
          }),
        },
        {
          c: stale,
          subject: 'audit.entries.append',
          payload: audit(stale, {
            occurredAt: '2026-11-20T10:13:00.500Z',
            reason: 'stale_pending',
            level: 'user',
          }),
        },
        {
          c: stale,
          subject: 'integrations.connection.abandoned',
          payload: event(stale, {
            occurredAt: '2026-11-20T10:13:00.500Z',
            level: 'user',
            reason: 'stale_pending',
          }),
        },
        {
          c: noReason,
          subject: 'audit.entries.append',
          payload: audit(noReason, {
            occurredAt: '2026-11-20T10:14:00.000Z',
            reason: 'connect_expired',
            level: 'user',
          }),
        },
        {
          c: noReason,
          subject: 'integrations.connection.abandoned',
          payload: event(noReason, {
            occurredAt: '2026-11-20T10:14:00.000Z',
            level: 'user',
            reason: 'connect_expired',
          }),
        },
      ];
      expect(owed.map(({ publish_after: _, ...r }) => r)).toEqual(
        expected.map((e) => ({
          connection_id: e.c.id,
          subject: e.subject,
          msg_id: e.c.eventId,
          payload: e.payload,
          ctx: { orgId },
        })),
      );
      // Owed in the order they were abandoned (the old outbox published by abandoned_at too).
      expect(owed.map((r) => new Date(r.publish_after).toISOString())).toEqual(
        expected.map((e) => e.payload.occurredAt),
      );
      // The published one owes nothing; the outbox columns and their index are gone.
      expect(
        await data.query(`select 1 from connection.event_outbox where connection_id = $1`, [
          published.id,
        ]),
      ).toEqual([]);
      expect(
        await data.query(
          `select column_name from information_schema.columns
            where table_schema = 'connection' and table_name = 'integration_connection'
              and column_name like 'abandoned%'
           union all
           select indexname from pg_indexes
            where schemaname = 'connection' and indexname = 'integration_connection_abandoned_outbox_idx'`,
        ),
      ).toEqual([]);
      await orm.close(true);
      ormOpen = false;

      // The new version's sweep publishes them: each the message the old outbox would have published.
      svc = await startConnection({
        databaseUrl: data.urlFor('connection'),
        natsUrl: nats.url,
        logger: createLogger({ name: 'connection-migration-test', level: 'silent' }),
        healthChecks: { enabled: false },
        pendingSweep: { intervalMs: 200 },
      });
      await waitFor(
        async () =>
          (
            await data.query(
              `select 1 from connection.event_outbox where published_at is null limit 1`,
            )
          ).length === 0,
        { timeoutMs: 10_000, what: 'the carried abandoned events published' },
      );
      for (const c of [failed, expired, stale, noReason, published]) {
        const mine = expected.filter((e) => e.c === c);
        for (const [stream, subject] of [
          ['INTEGRATIONS', 'integrations.connection.abandoned'],
          ['AUDIT', 'audit.entries.append'],
        ] as const) {
          expect(await streamMessagesAbout(nc, stream, subject, c.id)).toEqual(
            mine
              .filter((e) => e.subject === subject)
              .map((e) => ({ body: e.payload, msgId: c.eventId, org: orgId })),
          );
        }
      }
    } finally {
      await svc?.stop();
      if (ormOpen) await orm.close(true);
      await nc.close();
      await nats.stop();
      await data.drop();
    }
  });

  it('pins each instance to the tenant of its newest connection that was ever connected and named one', async () => {
    const data = await createTestDatabase();
    const orm = await openOrm(connectionOrmConfig(data.urlFor('connection')));
    try {
      await orm.getMigrator().up({ to: 'Migration20261124034012_bounded_reads' });
      const orgId = randomUUID();
      const instance = async (vendor: string) => {
        const id = randomUUID();
        await data.query(
          `insert into connection.integration_instance (id, org_id, vendor, status, config, created_at, updated_at)
           values ($1, $2, $3, 'connected', '{}', now(), now())`,
          [id, orgId, vendor],
        );
        return id;
      };
      const connection = async (
        instanceId: string,
        vendor: string,
        o: { tenant: string | null; connectedAt: string | null; status: string },
      ) =>
        data.query(
          `insert into connection.integration_connection (id, org_id, instance_id, vendor, level, user_id, status,
             tenant_id, details, connected_at, created_at, updated_at)
           values ($1, $2, $3, $4, 'user', $5, $6, $7, '{}', $8, now(), now())`,
          [
            randomUUID(),
            orgId,
            instanceId,
            vendor,
            randomUUID(),
            o.status,
            o.tenant,
            o.connectedAt,
          ],
        );
      // Tenants mixed by an earlier version: the newest connected one wins, a revoked one counts.
      const quickbooks = await instance('quickbooks');
      await connection(quickbooks, 'quickbooks', {
        tenant: 'realm-old',
        connectedAt: '2026-11-01T00:00:00Z',
        status: 'connected',
      });
      await connection(quickbooks, 'quickbooks', {
        tenant: 'realm-new',
        connectedAt: '2026-11-02T00:00:00Z',
        status: 'revoked',
      });
      // A connect that never went through pins nothing.
      const hubspot = await instance('hubspot');
      await connection(hubspot, 'hubspot', { tenant: 'hub-9', connectedAt: null, status: 'error' });
      // Nor does a connection with no tenant (Postmark).
      const postmark = await instance('postmark');
      await connection(postmark, 'postmark', {
        tenant: null,
        connectedAt: '2026-11-01T00:00:00Z',
        status: 'connected',
      });
      expect(await migrateUp(orm, CONNECTION_SCHEMA.schema)).toEqual([
        expect.stringMatching(/_instance_tenant$/),
        expect.stringMatching(/_unlink_tenant$/),
      ]);
      const pins = await data.query<{ vendor: string; tenant_id: string | null }>(
        `select vendor, tenant_id from connection.integration_instance order by vendor`,
      );
      expect(pins).toEqual([
        { vendor: 'hubspot', tenant_id: null },
        { vendor: 'postmark', tenant_id: null },
        { vendor: 'quickbooks', tenant_id: 'realm-new' },
      ]);
    } finally {
      await orm.close(true);
      await data.drop();
    }
  });
});
