import { randomUUID } from 'node:crypto';
import { consumerOpts, type NatsConnection } from 'nats';
import { expect } from 'vitest';
import type { TAuditAction } from '@otesse/contracts';
import { waitFor, type TTestDatabase } from '@otesse/testing';
import type { THarness } from './e2e-harness';

/** Seeds synced data for an instance (what a sync would have written): records and their references. */
export async function seedSyncedData(
  db: TTestDatabase,
  orgId: string,
  instanceId: string,
  connectionId: string,
  n: number,
  /** External ids are `<prefix>-1…n`: unique per instance, so a second connection needs its own prefix. */
  prefix = 'ct',
): Promise<void> {
  await db.query(
    `with rows as (select gen_random_uuid() as rid, g from generate_series(1, $4::int) g),
          recs as (insert into sync.synced_record (id, org_id, instance_id, resource, external_id, data, synced_at, source_connection_id)
                   select rid, $1, $2, 'contacts', $5 || '-' || g, jsonb_build_object('name', 'Contact ' || g), now(), $3 from rows returning id, external_id)
     insert into sync.external_reference (org_id, instance_id, connection_id, resource, external_id, local_record_id, last_synced_at)
     select $1, $2, $3, 'contacts', external_id, id, now() from recs`,
    [orgId, instanceId, connectionId, n, prefix],
  );
}

/** Every event of a subject (on whichever stream holds it) whose payload matches. */
export async function streamEvents<T extends Record<string, unknown>>(
  nc: NatsConnection,
  subject: string,
  match: (e: T) => boolean,
): Promise<T[]> {
  const js = nc.jetstream();
  const opts = consumerOpts();
  opts.orderedConsumer();
  opts.filterSubject(subject);
  const sub = await js.subscribe(subject, opts);
  const out: T[] = [];
  const jsm = await nc.jetstreamManager();
  const info = await jsm.streams.info(await jsm.streams.find(subject));
  const last = info.state.last_seq;
  if (info.state.messages === 0) {
    sub.unsubscribe();
    return out;
  }
  const done = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 1_500);
    void (async () => {
      for await (const m of sub) {
        const e = m.json<T>();
        if (match(e)) out.push(e);
        if (m.info.streamSequence >= last || m.info.pending === 0) break;
      }
      clearTimeout(timer);
      resolve();
    })();
  });
  await done;
  sub.unsubscribe();
  return out;
}

export const uuid = (): string => randomUUID();

/**
 * An operation on a connection audited and announced exactly once: its `action` entry shows (the audit writer may
 * still be catching up), and a moment later there is still one, with one `subject` event on the stream.
 */
export async function expectAuditedAndAnnouncedOnce(
  h: Pick<THarness, 'admin' | 'nc'>,
  o: { connectionId: string; action: TAuditAction; subject: string },
): Promise<void> {
  const entries = async () =>
    (
      await h.admin.client.audit.list.query({ filters: { action: o.action }, limit: 200 })
    ).entries.filter((e) => e.targets.connectionId === o.connectionId);
  await waitFor(async () => (await entries()).length > 0, {
    timeoutMs: 15_000,
    what: `the ${o.action} audit entry`,
  });
  await new Promise((r) => setTimeout(r, 500));
  expect(await entries()).toHaveLength(1);
  expect(
    await streamEvents(h.nc, o.subject, (e) => e['connectionId'] === o.connectionId),
  ).toHaveLength(1);
}

/** A connection's disconnect audited and announced exactly once. */
export function expectDisconnectedOnce(
  h: Pick<THarness, 'admin' | 'nc'>,
  connectionId: string,
): Promise<void> {
  return expectAuditedAndAnnouncedOnce(h, {
    connectionId,
    action: 'connection.disconnected',
    subject: 'integrations.connection.disconnected',
  });
}

/** A saga as the org's admin sees it (`disconnect.status`: its steps included). */
export const sagaOf = (h: Pick<THarness, 'admin'>, sagaId: string) =>
  h.admin.client.disconnect.status.query({ sagaId });

/** The saga once it has `status` (reads that fail meanwhile — the edge's own database away — are tried again). */
export const untilSagaStatus = (h: Pick<THarness, 'admin'>, sagaId: string, status: string) =>
  waitFor(
    async () => {
      const s = await sagaOf(h, sagaId).catch(() => undefined);
      return s?.status === status ? s : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );

/** One step of a saga's timeline. */
export const sagaStepOf = async (h: Pick<THarness, 'admin'>, sagaId: string, name: string) =>
  (await sagaOf(h, sagaId)).steps.find((s) => s.name === name);
