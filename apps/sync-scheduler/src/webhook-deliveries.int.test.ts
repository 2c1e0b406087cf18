import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nanos, type NatsConnection } from 'nats';
import type { TEventInput, TSyncResource } from '@otesse/contracts';
import { createLogger } from '@otesse/logging';
import { Bus, connectNats, EventPublisher } from '@otesse/messaging';
import {
  createTestDatabase,
  NATS_CONFIG_FILE,
  NATS_DEV_USERS,
  NATS_PROBE_USER,
  startNatsServer,
  waitFor,
  type TTestDatabase,
  type TTestNats,
} from '@otesse/testing';
import { metricsText } from '@otesse/telemetry';
import { WEBHOOK_DELIVERIES_DURABLE } from './consumers/webhook-deliveries.consumer';
import { startSyncScheduler, type TRunningSyncScheduler } from './sync-scheduler.service';
import { instanceWithDefaultJobs } from './test/sync-scheduler-test-bed';
import { startSyncKit, type TSyncKit } from './test/sync-test-kit';

type TDelivery = TEventInput<'integrations.webhook.received'>;

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** A provider's change notification as the edge publishes it once the signature checked out. */
function delivery(
  t: { orgId: string; instanceId: string; vendor?: string },
  o: { deliveryId?: string | null; body?: string } = {},
): TDelivery {
  const body = o.body ?? JSON.stringify({ type: 'contact.updated', id: randomUUID() });
  return {
    eventId: randomUUID(),
    occurredAt: new Date().toISOString(),
    orgId: t.orgId,
    vendor: t.vendor ?? 'zendesk',
    instanceId: t.instanceId,
    endpointId: randomUUID(),
    deliveryId: o.deliveryId === undefined ? `dlv-${randomUUID()}` : o.deliveryId,
    contentType: 'application/json',
    body,
    bodySha256: sha256(body),
  };
}
/** The msgID the contract prescribes: a provider's retry within the duplicate window is stored once. */
const msgIdOf = (e: TDelivery): string => `webhook:${e.instanceId}:${e.deliveryId ?? e.bodySha256}`;

const RUNS_REQUESTED = 'otesse_sync_webhook_runs_requested_total';
async function runsRequested(vendor: string): Promise<number> {
  const prefix = `${RUNS_REQUESTED}{vendor="${vendor}"} `;
  const line = (await metricsText()).split('\n').find((l) => l.startsWith(prefix));
  return line ? Number(line.slice(prefix.length)) : 0;
}

/**
 * The consumer with the engine off, so a requested run stays visible on the job. Every process logs in as its own
 * NATS user with the deployed permissions: the scheduler creates WEBHOOKS and its durable itself, the edge
 * publishes the deliveries.
 */
describe('webhook deliveries request sync runs (real Postgres, NATS with the deployed permissions)', () => {
  // Every line the scheduler logs, to check what a delivery's line says (and that the body is never in one).
  const logLines: string[] = [];
  const logger = createLogger({
    name: 'sync-webhooks-test',
    level: 'info',
    destination: { write: (line: string) => void logLines.push(line) },
  });
  let db: TTestDatabase;
  let nats: TTestNats;
  let probe: NatsConnection;
  let edge: NatsConnection;
  let bus: Bus;
  let publisher: EventPublisher;
  let svc: TRunningSyncScheduler | undefined;

  const start = async (): Promise<void> => {
    svc = await startSyncScheduler({
      databaseUrl: db.urlFor('sync-scheduler'),
      natsUrl: nats.url,
      natsUser: NATS_DEV_USERS['sync-scheduler'].user,
      natsPassword: NATS_DEV_USERS['sync-scheduler'].password,
      logger,
      engine: { enabled: false },
    });
  };

  beforeAll(async () => {
    [db, nats] = await Promise.all([
      createTestDatabase(),
      startNatsServer({ configFile: NATS_CONFIG_FILE }),
    ]);
    [probe, edge] = await Promise.all([
      connectNats({
        url: nats.url,
        name: 'probe',
        user: NATS_PROBE_USER.user,
        password: NATS_PROBE_USER.pass,
      }),
      connectNats({
        url: nats.url,
        name: 'edge',
        user: NATS_DEV_USERS.edge.user,
        password: NATS_DEV_USERS.edge.password,
        inboxPrefix: '_INBOX_edge',
      }),
    ]);
    bus = new Bus(probe, { timeoutMs: 5_000 });
    publisher = new EventPublisher(edge);
    await start();
  });
  afterAll(async () => {
    await svc?.stop();
    await probe?.close();
    await edge?.close();
    await nats?.stop();
    await db?.drop();
  });

  const publish = (e: TDelivery, msgId = msgIdOf(e)) =>
    publisher.publish('integrations.webhook.received', e, { msgId });
  const consumerInfo = async () =>
    (await probe.jetstreamManager()).consumers.info('WEBHOOKS', WEBHOOK_DELIVERIES_DURABLE);
  /** Until the scheduler acked everything up to `seq` (its handler committed before each ack). */
  const handledUpTo = (seq: number) =>
    waitFor(
      async () => {
        const info = await consumerInfo();
        return info.ack_floor.stream_seq >= seq && info.num_ack_pending === 0;
      },
      { what: `deliveries up to ${seq} handled` },
    );

  interface TJobState {
    id: string;
    org_id: string;
    instance_id: string;
    connection_id: string;
    resource: string;
    is_enabled: boolean;
    run_requested_at: Date | null;
    updated_at: Date;
  }
  const jobStates = async (): Promise<Map<string, TJobState>> =>
    new Map(
      (
        await db.query<TJobState>(
          `select id, org_id, instance_id, connection_id, resource, is_enabled, run_requested_at, updated_at
             from sync.sync_job order by id`,
        )
      ).map((r) => [r.id, r]),
    );
  const setup = (
    t: { orgId?: string; instanceId?: string } = {},
    resources: TSyncResource[] = ['contacts', 'invoices', 'tickets'],
  ) => instanceWithDefaultJobs(bus, { ...t, resources });
  /** What a disconnect leaves: every job of the connection disabled by the saga's step 2. */
  const disconnect = (t: { orgId: string; connectionId: string }) => {
    const sagaId = randomUUID();
    return bus.request('sync-scheduler.jobs.disable-for-connection', {
      orgId: t.orgId,
      connectionId: t.connectionId,
      sagaId,
      idempotencyKey: `${sagaId}:disable-jobs`,
    });
  };
  const linesFor = (instanceId: string) =>
    logLines
      .filter((l) => l.includes('webhook delivery: sync runs requested'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l['instanceId'] === instanceId);

  it('creates WEBHOOKS and its durable consumer of webhook deliveries as its own NATS user', async () => {
    const jsm = await probe.jetstreamManager();
    const { config } = await jsm.streams.info('WEBHOOKS');
    expect(config.subjects).toEqual(['integrations.webhook.>']);
    // A day, not the domain events' 30: the deliveries carry providers' bodies.
    expect(config.max_age).toBe(nanos(86_400_000));
    const info = await consumerInfo();
    expect(info.config).toMatchObject({
      durable_name: 'sync-scheduler-webhooks',
      filter_subject: 'integrations.webhook.received',
      ack_policy: 'explicit',
    });
  });

  it("requests a run for each enabled job of the delivery's instance, and touches nothing else", async () => {
    const a = await setup();
    const [contacts, invoices, tickets] = a.jobs.map((j) => j.id) as [string, string, string];
    // A user turned tickets off; a second connection of the instance was disconnected.
    await bus.request('sync-scheduler.jobs.set-enabled', {
      orgId: a.orgId,
      jobId: tickets,
      enabled: false,
    });
    const aGone = await setup({ orgId: a.orgId, instanceId: a.instanceId }, ['contacts']);
    expect((await disconnect(aGone)).jobsDisabled).toBe(1);
    // Contacts is running: the request is a follow-up run, after this one (which may have read past the change).
    const [exec] = await db.query<{ id: string }>(
      `insert into sync.sync_execution (job_id, org_id, connection_id, status, lease_owner, lease_expires_at)
       values ($1, $2, $3, 'running', 'worker-x', now() + interval '1 minute') returning id`,
      [contacts, a.orgId, a.connectionId],
    );
    // Another instance of the org, and another org.
    const b = await setup({ orgId: a.orgId });
    const x = await setup();
    const before = await jobStates();
    const counted = await runsRequested('zendesk');

    // A delivery naming A's instance under another org wakes nothing: org and instance must both match.
    const foreign = await publish(delivery({ orgId: x.orgId, instanceId: a.instanceId }));
    await handledUpTo(foreign.seq);
    expect(await jobStates()).toEqual(before);

    const marker = `secret-body-${randomUUID()}`;
    const event = delivery(a, { body: JSON.stringify({ type: 'contact.updated', note: marker }) });
    const { seq, duplicate } = await publish(event);
    expect(duplicate).toBe(false);
    await handledUpTo(seq);

    // What the sync page shows: the enabled jobs have a run requested, the disabled one does not.
    const { jobs } = await bus.request('sync-scheduler.jobs.list', {
      orgId: a.orgId,
      instanceId: a.instanceId,
    });
    const byId = new Map(jobs.map((j) => [j.id, j]));
    expect(byId.get(contacts)?.runRequestedAt).not.toBeNull();
    expect(byId.get(invoices)?.runRequestedAt).not.toBeNull();
    expect(byId.get(tickets)).toMatchObject({ isEnabled: false, runRequestedAt: null });
    expect(byId.get(aGone.jobs[0]!.id)).toMatchObject({ isEnabled: false, runRequestedAt: null });

    const after = await jobStates();
    const changed = [...after.values()].filter(
      (r) => JSON.stringify(r) !== JSON.stringify(before.get(r.id)),
    );
    expect(changed.map((r) => r.id).sort()).toEqual([contacts, invoices].sort());
    for (const id of [...b.jobs, ...x.jobs].map((j) => j.id)) {
      expect(after.get(id)).toEqual(before.get(id));
    }
    const [execAfter] = await db.query<{ status: string }>(
      'select status from sync.sync_execution where id = $1',
      [exec!.id],
    );
    expect(execAfter?.status).toBe('running');
    await waitFor(async () => (await runsRequested('zendesk')) - counted === 2);

    // One info line for the delivery, with what an operator needs, never the body.
    expect(linesFor(a.instanceId)).toEqual([
      expect.objectContaining({ orgId: x.orgId, jobsRequested: 0 }),
      expect.objectContaining({
        level: 'info',
        orgId: a.orgId,
        instanceId: a.instanceId,
        vendor: 'zendesk',
        deliveryId: event.deliveryId,
        jobsRequested: 2,
      }),
    ]);
    expect(logLines.join('')).not.toContain(marker);
  });

  it('coalesces a burst of deliveries into the one run already requested per job', async () => {
    const d = await setup({}, ['contacts', 'invoices']);
    const counted = await runsRequested('zendesk');
    const acks = await Promise.all(Array.from({ length: 20 }, () => publish(delivery(d))));
    expect(acks.every((a) => !a.duplicate)).toBe(true);
    await handledUpTo(Math.max(...acks.map((a) => a.seq)));

    const rows = [...(await jobStates()).values()].filter((r) => r.instance_id === d.instanceId);
    expect(rows).toHaveLength(2);
    for (const r of rows) {
      expect(r.run_requested_at).not.toBeNull();
      // Requested once, by the first delivery; the other 19 changed nothing on the row.
      expect(r.updated_at).toEqual(r.run_requested_at);
    }
    expect(await runsRequested('zendesk')).toBe(counted + 2);
    const lines = linesFor(d.instanceId);
    expect(lines).toHaveLength(20);
    expect(lines.reduce((n, l) => n + Number(l['jobsRequested']), 0)).toBe(2);
  });

  it('stores a duplicate publish once and is unmoved by a redelivered event', async () => {
    const e = await setup({}, ['contacts']);
    const event = delivery(e);
    const first = await publish(event);
    // The edge's retry (or the provider's) under the same msgID: JetStream keeps one copy.
    const again = await publish(event);
    expect(again).toEqual({ seq: first.seq, duplicate: true });
    await handledUpTo(first.seq);
    const requested = (await jobStates()).get(e.jobs[0]!.id);
    expect(requested?.run_requested_at).not.toBeNull();
    const counted = await runsRequested('zendesk');

    // The same event again past the duplicate window (a new msgID): handled, harmless.
    const late = await publish(event, `${msgIdOf(event)}:late`);
    expect(late.duplicate).toBe(false);
    await handledUpTo(late.seq);
    expect((await jobStates()).get(e.jobs[0]!.id)).toEqual(requested);
    expect(await runsRequested('zendesk')).toBe(counted);
    expect(linesFor(e.instanceId).map((l) => l['jobsRequested'])).toEqual([1, 0]);
  });

  it('retries a delivery whose handling failed, and requests the run once', async () => {
    const f = await setup({}, ['contacts', 'tickets']);
    const counted = await runsRequested('zendesk');
    // The database refuses the instance's requests for a while (as if it were down).
    await db.query(
      `alter table sync.sync_job add constraint test_refuse_webhook
         check (run_requested_at is null or instance_id <> '${f.instanceId}') not valid`,
    );
    try {
      const { seq } = await publish(delivery(f));
      await waitFor(async () => (await consumerInfo()).num_redelivered > 0, {
        what: 'a redelivery',
      });
      expect(
        [...(await jobStates()).values()].filter(
          (r) => r.instance_id === f.instanceId && r.run_requested_at !== null,
        ),
      ).toEqual([]);
      await db.query('alter table sync.sync_job drop constraint test_refuse_webhook');
      await handledUpTo(seq);
    } finally {
      await db.query('alter table sync.sync_job drop constraint if exists test_refuse_webhook');
    }
    const rows = [...(await jobStates()).values()].filter((r) => r.instance_id === f.instanceId);
    expect(rows.every((r) => r.run_requested_at !== null)).toBe(true);
    expect(await runsRequested('zendesk')).toBe(counted + 2);
  });

  it('never wakes the jobs of a disconnected connection', async () => {
    const g = await setup();
    expect((await disconnect(g)).jobsDisabled).toBe(3);
    const before = await jobStates();
    const { seq } = await publish(delivery(g));
    await handledUpTo(seq);
    expect(await jobStates()).toEqual(before);
    expect(linesFor(g.instanceId)).toEqual([expect.objectContaining({ jobsRequested: 0 })]);
  });

  it('handles a delivery published while the scheduler was stopped once it starts again', async () => {
    const h = await setup({}, ['invoices']);
    await svc?.stop();
    svc = undefined;
    const { seq } = await publish(delivery(h));
    expect((await consumerInfo()).num_pending).toBe(1);
    expect((await jobStates()).get(h.jobs[0]!.id)?.run_requested_at).toBeNull();

    await start();
    await handledUpTo(seq);
    expect((await jobStates()).get(h.jobs[0]!.id)?.run_requested_at).not.toBeNull();
  });
});

/**
 * End to end with the engine: the run a delivery requests is claimed and executed against the fake provider (the
 * vault and the connection service as processes), and a burst during a run queues a single follow-up.
 */
describe('webhook deliveries run the jobs (engine on, fake provider, real services)', () => {
  let kit: TSyncKit;
  let publisher: EventPublisher;

  beforeAll(async () => {
    kit = await startSyncKit();
    await kit.startScheduler();
    publisher = new EventPublisher(kit.nc);
  });
  afterAll(async () => {
    await kit?.close();
  });

  const publish = (e: TDelivery) =>
    publisher.publish('integrations.webhook.received', e, { msgId: msgIdOf(e) });
  const requestedOrRunning = async (jobId: string) =>
    (
      await kit.db.query<{ busy: boolean }>(
        `select run_requested_at is not null
                or exists (select 1 from sync.sync_execution e
                            where e.job_id = j.id and e.status = 'running') as busy
           from sync.sync_job j where j.id = $1`,
        [jobId],
      )
    )[0]?.busy;

  it("runs the instance's enabled jobs soon, and not the disabled one", async () => {
    kit.fake.state.applyConfig({
      pageDelayMs: 0,
      dataCounts: { contacts: 30, invoices: 30, tickets: 30 },
    });
    const c = await kit.connect();
    const contacts = await kit.addJob(c, 'contacts');
    const invoices = await kit.addJob(c, 'invoices');
    const tickets = await kit.addJob(c, 'tickets');
    await kit.db.query('update sync.sync_job set is_enabled = false where id = $1', [tickets]);
    // Not due for an hour: only the delivery can start them.
    expect(await kit.executions(contacts)).toEqual([]);

    await publish(delivery(c));
    for (const jobId of [contacts, invoices]) {
      expect(await kit.finished(jobId, { timeoutMs: 10_000 })).toMatchObject({
        status: 'succeeded',
        trigger: 'manual',
        records_fetched: 30,
      });
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(await kit.executions(tickets)).toEqual([]);
    expect(await kit.executions(contacts)).toHaveLength(1);
  });

  it('a burst during a run queues one follow-up run, not twenty', async () => {
    // About 2 s a run: ten pages of 20, 200 ms each.
    kit.fake.state.applyConfig({
      pageDelayMs: 200,
      dataCounts: { contacts: 200, invoices: 0, tickets: 0 },
    });
    const c = await kit.connect();
    const contacts = await kit.addJob(c, 'contacts');
    await publish(delivery(c));
    await waitFor(async () => (await kit.executions(contacts))[0]?.status === 'running', {
      what: 'the first run',
    });
    const acks = await Promise.all(Array.from({ length: 20 }, () => publish(delivery(c))));
    expect(acks.every((a) => !a.duplicate)).toBe(true);
    // All handled while the first run was still going (else a later delivery would rightly ask for a third).
    const last = Math.max(...acks.map((a) => a.seq));
    await waitFor(
      async () => {
        const info = await (
          await kit.nc.jetstreamManager()
        ).consumers.info('WEBHOOKS', WEBHOOK_DELIVERIES_DURABLE);
        return info.ack_floor.stream_seq >= last && info.num_ack_pending === 0;
      },
      { what: 'the burst handled' },
    );
    expect((await kit.executions(contacts))[0]?.status).toBe('running');

    await kit.finished(contacts, { after: 1, timeoutMs: 20_000 });
    await waitFor(async () => (await requestedOrRunning(contacts)) === false, {
      timeoutMs: 20_000,
      what: 'the job idle',
    });
    const runs = await kit.executions(contacts);
    expect(runs.map((r) => [r.status, r.trigger])).toEqual([
      ['succeeded', 'manual'],
      ['succeeded', 'manual'],
    ]);
  });
});
