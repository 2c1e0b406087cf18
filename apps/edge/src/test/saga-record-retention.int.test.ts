import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@otesse/testing';
import { connectOAuth, startHarness, type THarness } from './e2e-harness';

/** The schemas whose `processed_command` dedupes saga commands. */
const SCHEMAS = ['connection', 'sync', 'vault'] as const;
type TSchema = (typeof SCHEMAS)[number];

/**
 * Idempotency records do not pile up: the edge releases a saga's once it has been completed or compensated for
 * SAGA_RECORD_RETENTION_MS (here 3 s), in every service; each service purges keys that are not a saga's after its
 * own IDEMPOTENCY_RECORD_RETENTION_MS (here a minute). A stopped saga keeps its records (it may be resumed), and so
 * does a saga while a service is away.
 */
describe('idempotency records are released and purged (all services as processes)', () => {
  let h: THarness;

  beforeAll(async () => {
    h = await startHarness({
      envFor: (s) =>
        s === 'edge'
          ? {
              SAGA_RECORD_RETENTION_MS: '3000',
              SAGA_RECORD_RELEASE_INTERVAL_MS: '300',
              SAGA_HISTORY_RETENTION_MS: '600000',
            }
          : s === 'audit'
            ? {}
            : { IDEMPOTENCY_RECORD_RETENTION_MS: '60000', IDEMPOTENCY_PURGE_INTERVAL_MS: '300' },
    });
    await h.admin.client.integrations.configureInstance.mutate({
      vendor: 'servicenow',
      subdomain: 'acme',
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  /** How many records a service keeps whose key starts with `prefix`. */
  const records = async (schema: TSchema, prefix: string): Promise<number> =>
    Number(
      (
        await h.db.query<{ n: string }>(
          `select count(*) as n from ${schema}.processed_command where starts_with(key, $1)`,
          [prefix],
        )
      )[0]!.n,
    );
  const recordsEverywhere = async (prefix: string) =>
    Object.fromEntries(
      await Promise.all(SCHEMAS.map(async (s) => [s, await records(s, prefix)] as const)),
    ) as Record<TSchema, number>;

  const addRecord = (schema: TSchema, key: string, ageMs = 0) =>
    h.db.query(
      `insert into ${schema}.processed_command (key, subject, result, created_at)
       values ($1, 'test.subject', '{}', now() - $2 * interval '1 millisecond')`,
      [key, ageMs],
    );

  /** A saga row as the engine leaves one that ended `status` `endedMinutesAgo` (1), with one step. */
  const addEndedSaga = async (
    status: 'completed' | 'compensated' | 'failed',
    step: string,
    endedMinutesAgo = 1,
  ) => {
    const id = randomUUID();
    await h.db.query(
      `insert into edge.saga (id, type, subject_key, status, definition_version, org_id, actor_user_id, input,
                              created_at, updated_at, completed_at)
       values ($1::uuid, 'test', $1::text, $2, 1, $3, $4, '{}', now() - ($5 + 1) * interval '1 minute', now(),
               now() - $5 * interval '1 minute')`,
      [id, status, h.orgId, h.admin.id, endedMinutesAgo],
    );
    await h.db.query(
      `insert into edge.saga_step (id, saga_id, seq, name, kind, status, attempts, idempotency_key,
                                   effect_possible, started_at)
       values ($1, $2::uuid, 1, $3::text, 'compensatable', 'succeeded', 1, $2::text || ':' || $3::text, true, now())`,
      [randomUUID(), id, step],
    );
    return id;
  };

  const releasedAt = async (sagaId: string) =>
    (
      await h.db.query<{ records_released_at: Date | null }>(
        `select records_released_at from edge.saga where id = $1`,
        [sagaId],
      )
    )[0]?.records_released_at;

  it("keeps a finished disconnect's records for the retention, then deletes them in every service; a stopped saga keeps its own", async () => {
    const { connectionId } = await connectOAuth(h, h.admin, 'servicenow', 'app');
    const { saga } = await h.admin.client.disconnect.start.mutate({
      connectionId: connectionId!,
      confirm: true,
    });
    expect(saga.status).toBe('completed');
    // Every service got commands from it, and remembers them for a replay.
    const kept = await recordsEverywhere(`${saga.id}:`);
    expect(kept.connection).toBeGreaterThan(0);
    expect(kept.sync).toBeGreaterThan(0);
    expect(kept.vault).toBeGreaterThan(0);
    expect(await releasedAt(saga.id)).toBeNull();

    // A compensated saga's compensations are released with its steps; a stopped one may still be resumed.
    const compensated = await addEndedSaga('compensated', 'disable-sync-jobs');
    await addRecord('sync', `${compensated}:disable-sync-jobs`);
    await addRecord('sync', `${compensated}:disable-sync-jobs:compensate`);
    // What its onCompensated hook sent (a reconnect's discard of the new tokens): released with the rest.
    await addRecord('vault', `${compensated}:on-compensated`);
    const stopped = await addEndedSaga('failed', 'destroy-credentials');
    await addRecord('vault', `${stopped}:destroy-credentials`);

    // The services forget first, then the edge commits the release mark: wait for the mark too, not only the
    // deletions (read between the two, the mark was still null once in CI).
    // A release round asks all three services and waits for each (up to 10 s): on a loaded machine one slow answer
    // costs a round, so the bound is generous; a timeout names what was still not released.
    await waitFor(
      async () => {
        const left = {
          disconnect: await recordsEverywhere(`${saga.id}:`),
          compensated: {
            sync: await records('sync', `${compensated}:`),
            vault: await records('vault', `${compensated}:`),
          },
          marked: {
            disconnect: (await releasedAt(saga.id)) instanceof Date,
            compensated: (await releasedAt(compensated)) instanceof Date,
          },
        };
        const done =
          Object.values(left.disconnect).every((n) => n === 0) &&
          left.compensated.sync === 0 &&
          left.compensated.vault === 0 &&
          left.marked.disconnect &&
          left.marked.compensated;
        if (!done) throw new Error(`still: ${JSON.stringify(left)}`);
        return true;
      },
      { timeoutMs: 45_000, intervalMs: 200, what: 'the ended sagas released' },
    );
    expect(await releasedAt(saga.id)).toBeInstanceOf(Date);
    expect(await releasedAt(compensated)).toBeInstanceOf(Date);
    expect(await records('vault', `${stopped}:`)).toBe(1);
    expect(await releasedAt(stopped)).toBeNull();
    // The saga's own log is history and stays.
    expect((await h.admin.client.disconnect.status.query({ sagaId: saga.id })).status).toBe(
      'completed',
    );
  });

  it("purges, in each service, keys that are not a saga's once past its retention; a saga's key stays however old", async () => {
    const oldOther = {
      connection: `connect-cleanup:${randomUUID()}`,
      sync: `other:${randomUUID()}`,
      vault: `refused:${randomUUID()}`,
    };
    const freshOther = `refused:${randomUUID()}`;
    const unreleased = `${randomUUID()}:revoke-tokens`;
    for (const s of SCHEMAS) await addRecord(s, oldOther[s], 120_000);
    await addRecord('vault', freshOther);
    await addRecord('vault', unreleased, 120_000);

    await waitFor(
      async () =>
        (await Promise.all(SCHEMAS.map((s) => records(s, oldOther[s])))).every((n) => n === 0),
      { timeoutMs: 20_000, intervalMs: 200, what: 'the old records purged' },
    );
    expect(await records('vault', freshOther)).toBe(1);
    expect(await records('vault', unreleased)).toBe(1);
  });

  it('deletes from the log the sagas ended longer ago than SAGA_HISTORY_RETENTION_MS once released, and no other', async () => {
    // Ended 20 minutes ago (the retention here is 10): released first, then deleted, steps too.
    const old = await addEndedSaga('completed', 'disable-sync-jobs', 20);
    await addRecord('sync', `${old}:disable-sync-jobs`);
    // A stopped saga may be resumed however old; a recent one is within the retention.
    const stopped = await addEndedSaga('failed', 'destroy-credentials', 20);
    const recent = await addEndedSaga('completed', 'disable-sync-jobs', 5);
    const sagaRows = async (id: string) =>
      Number(
        (
          await h.db.query<{ n: string }>(
            `select (select count(*) from edge.saga where id = $1)
                  + (select count(*) from edge.saga_step where saga_id = $1) as n`,
            [id],
          )
        )[0]!.n,
      );
    await waitFor(async () => (await sagaRows(old)) === 0, {
      timeoutMs: 45_000,
      intervalMs: 200,
      what: 'the old saga deleted',
    });
    // Released before it went: no record of it is left behind in a service.
    expect(await records('sync', `${old}:`)).toBe(0);
    expect(await sagaRows(stopped)).toBe(2);
    expect(await releasedAt(recent)).toBeInstanceOf(Date);
    expect(await sagaRows(recent)).toBe(2);
    // What the caller sees: a kept saga's timeline, and none for the deleted one.
    expect((await h.admin.client.disconnect.status.query({ sagaId: recent })).id).toBe(recent);
    await expect(h.admin.client.disconnect.status.query({ sagaId: old })).rejects.toThrow(
      /not found/i,
    );
  });

  it('releases nothing while a service is away, and everything once it is back', async () => {
    await h.stack.kill('sync-scheduler', 'SIGTERM');
    try {
      const ended = await addEndedSaga('completed', 'disable-sync-jobs');
      for (const s of SCHEMAS) await addRecord(s, `${ended}:disable-sync-jobs`);
      // Several release runs go by: the scheduler cannot confirm, so the saga is not marked released.
      await new Promise((r) => setTimeout(r, 2_000));
      expect(await releasedAt(ended)).toBeNull();
      expect(await records('sync', `${ended}:`)).toBe(1);

      await h.stack.start('sync-scheduler');
      await waitFor(async () => (await releasedAt(ended)) ?? false, {
        timeoutMs: 20_000,
        intervalMs: 200,
        what: 'the saga released',
      });
      expect(await recordsEverywhere(`${ended}:`)).toEqual({ connection: 0, sync: 0, vault: 0 });
    } finally {
      if (!h.stack.running().some((p) => p.service === 'sync-scheduler'))
        await h.stack.start('sync-scheduler');
    }
  });
});
