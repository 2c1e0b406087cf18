import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nanos, type NatsConnection } from 'nats';
import { STREAMS } from '@otesse/contracts';
import { createLogger } from '@otesse/logging';
import { startNatsServer, waitFor, type TTestNats } from '@otesse/testing';
import { consumeDurable, ensureStreams, EventPublisher } from './jetstream';
import { connectNats } from './nats-connection';

/** An `integrations.connection.abandoned` event of the test org, published with its event id as msgID. */
function publishAbandoned(publisher: EventPublisher, eventId: string, connectionId: string) {
  return publisher.publish(
    'integrations.connection.abandoned',
    {
      eventId,
      occurredAt: new Date().toISOString(),
      orgId: '00000000-0000-4000-8000-00000000000a',
      vendor: 'google',
      instanceId: '00000000-0000-4000-8000-00000000000b',
      connectionId,
      level: 'user',
      userId: '00000000-0000-4000-8000-00000000000c',
      reason: 'connect_failed',
    },
    { msgId: eventId },
  );
}

describe('ensureStreams: created by whoever starts first, configured only by its owner', () => {
  let nats: TTestNats;
  let nc: NatsConnection;
  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connectNats({ url: nats.url, name: 'streams-test' });
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it('a process that does not own AUDIT creates it with its one configuration, and never changes it after', async () => {
    const jsm = await nc.jetstreamManager();
    await ensureStreams(nc, ['AUDIT'], { service: 'edge' });
    const created = (await jsm.streams.info('AUDIT')).config;
    expect(created.max_age).toBe(nanos(STREAMS.AUDIT.maxAgeMs));
    expect(created.subjects).toEqual(['audit.entries.append']);

    // Someone changed the limits (an operator by hand, or an older owner): a non-owner's start leaves them.
    await jsm.streams.update('AUDIT', { max_age: nanos(3_600_000) });
    await ensureStreams(nc, ['AUDIT'], { service: 'edge' });
    expect((await jsm.streams.info('AUDIT')).config.max_age).toBe(nanos(3_600_000));

    // The owner's start puts its configuration back.
    await ensureStreams(nc, ['AUDIT'], { service: 'audit' });
    expect((await jsm.streams.info('AUDIT')).config.max_age).toBe(nanos(STREAMS.AUDIT.maxAgeMs));
  });

  it('an upgrade moves the webhook deliveries out of INTEGRATIONS: the owner narrows it, purges the deliveries it kept, and WEBHOOKS takes the subject; a non-owner meanwhile starts all the same', async () => {
    const jsm = await nc.jetstreamManager();
    const js = nc.jetstream();
    // As an earlier release created it: every integrations.* subject, webhook deliveries included.
    await jsm.streams.add({ name: 'INTEGRATIONS', subjects: ['integrations.>'] });
    await js.publish(
      'integrations.webhook.received',
      new TextEncoder().encode('{"body":"a provider\'s"}'),
    );
    await js.publish('integrations.connection.connected', new TextEncoder().encode('{}'));
    const lines: string[] = [];
    const logger = createLogger({
      name: 'streams',
      destination: { write: (l: string) => void lines.push(l) },
    });
    // The edge, upgraded first: WEBHOOKS cannot be created yet (its subjects are INTEGRATIONS'); it starts anyway.
    await ensureStreams(nc, ['AUDIT', 'INTEGRATIONS', 'WEBHOOKS'], { service: 'edge', logger });
    expect(lines.join('')).toContain('another stream still holds its subjects');
    expect((await jsm.streams.find('integrations.webhook.received').catch(() => null)) ?? '').toBe(
      'INTEGRATIONS',
    );
    // The owner's upgrade.
    await ensureStreams(nc, ['INTEGRATIONS', 'WEBHOOKS'], { service: 'connection', logger });
    const integrations = await jsm.streams.info('INTEGRATIONS');
    expect(integrations.config.subjects).toEqual([
      'integrations.connection.>',
      'integrations.instance.>',
    ]);
    // The kept delivery is gone; the domain event stays.
    expect(integrations.state.messages).toBe(1);
    expect(lines.join('')).toContain('moved-out subjects purged');
    const webhooks = await jsm.streams.info('WEBHOOKS');
    expect(webhooks.config).toMatchObject({
      subjects: ['integrations.webhook.>'],
      max_age: nanos(STREAMS.WEBHOOKS.maxAgeMs),
    });
    expect((await js.publish('integrations.webhook.received', new Uint8Array())).stream).toBe(
      'WEBHOOKS',
    );
    // The owner's next start changes nothing and purges nothing.
    lines.length = 0;
    await ensureStreams(nc, ['INTEGRATIONS', 'WEBHOOKS'], { service: 'connection', logger });
    expect(lines.join('')).not.toContain('purged');
    expect((await jsm.streams.info('INTEGRATIONS')).state.messages).toBe(1);
    await jsm.streams.delete('INTEGRATIONS');
    await jsm.streams.delete('WEBHOOKS');
  });

  it('non-owners starting at the same moment all succeed, and one stream exists', async () => {
    await Promise.all(
      Array.from({ length: 5 }, () => ensureStreams(nc, ['INTEGRATIONS'], { service: 'edge' })),
    );
    const jsm = await nc.jetstreamManager();
    expect((await jsm.streams.info('INTEGRATIONS')).config.subjects).toEqual([
      'integrations.connection.>',
      'integrations.instance.>',
    ]);
  });

  it("an upgrade that adds a subject (INTEGRATIONS' integrations.instance.>): only the owner adds it, and nothing is purged", async () => {
    const jsm = await nc.jetstreamManager();
    const js = nc.jetstream();
    await jsm.streams.delete('INTEGRATIONS').catch(() => undefined);
    // As session 26 left it.
    await jsm.streams.add({ name: 'INTEGRATIONS', subjects: ['integrations.connection.>'] });
    await js.publish('integrations.connection.connected', new TextEncoder().encode('{}'));
    const lines: string[] = [];
    const logger = createLogger({
      name: 'streams',
      destination: { write: (l: string) => void lines.push(l) },
    });
    // The edge, upgraded before its owner: the stream stays as it is (its unlink events wait for the owner).
    await ensureStreams(nc, ['INTEGRATIONS'], { service: 'edge', logger });
    expect((await jsm.streams.info('INTEGRATIONS')).config.subjects).toEqual([
      'integrations.connection.>',
    ]);
    await ensureStreams(nc, ['INTEGRATIONS'], { service: 'connection', logger });
    const after = await jsm.streams.info('INTEGRATIONS');
    expect(after.config.subjects).toEqual(['integrations.connection.>', 'integrations.instance.>']);
    expect(after.state.messages).toBe(1);
    expect(lines.join('')).not.toContain('purged');
    expect((await js.publish('integrations.instance.unlinked', new Uint8Array())).stream).toBe(
      'INTEGRATIONS',
    );
    await jsm.streams.delete('INTEGRATIONS');
  });
});

describe('consumeDurable before its stream exists', () => {
  let nats: TTestNats;
  let nc: NatsConnection;
  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connectNats({ url: nats.url, name: 'late-stream-test' });
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it('a subscriber started on a fresh environment waits for the stream, then reads what is published', async () => {
    const lines: string[] = [];
    const logger = createLogger({
      name: 'subscriber',
      destination: { write: (l: string) => void lines.push(l) },
    });
    const got: string[] = [];
    // No INTEGRATIONS stream yet: the subscriber (whose NATS user could not create it) starts first.
    const consumer = await consumeDurable(nc, {
      stream: 'INTEGRATIONS',
      durable: 'late-subscriber',
      subjects: ['integrations.connection.abandoned'],
      logger,
      handler: async (event) => {
        got.push(event.connectionId);
      },
    });
    try {
      expect(lines.join('')).toContain('stream does not exist yet');
      // A publisher comes up and creates the stream, then publishes.
      await ensureStreams(nc, ['INTEGRATIONS'], { service: 'connection' });
      const connectionId = '00000000-0000-4000-8000-00000000c0de';
      await publishAbandoned(
        new EventPublisher(nc),
        '00000000-0000-4000-8000-00000000e001',
        connectionId,
      );
      await waitFor(() => got.length > 0, { timeoutMs: 10_000, what: 'the event consumed' });
      expect(got).toEqual([connectionId]);
    } finally {
      await consumer.stop();
    }
  });

  it('a stop hands back the messages it had pulled but not handled, without handling them: another replica takes them', async () => {
    await ensureStreams(nc, ['INTEGRATIONS'], { service: 'connection' });
    const publisher = new EventPublisher(nc);
    const ids = Array.from(
      { length: 20 },
      (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    );
    for (const id of ids) {
      await publishAbandoned(publisher, id, id);
    }
    const handled: string[] = [];
    const replica = (slowMs: number) =>
      consumeDurable(nc, {
        stream: 'INTEGRATIONS',
        durable: 'draining-subscriber',
        subjects: ['integrations.connection.abandoned'],
        logger: createLogger({ name: 'subscriber', level: 'silent' }),
        batch: 64,
        // Short, so that a message handed back into the stopped replica's last pull (which no one reads any more)
        // comes round again soon: the test is about the stop, not about the ack wait.
        ackWaitMs: 2_000,
        handler: async (event) => {
          await new Promise((r) => setTimeout(r, slowMs));
          handled.push(event.connectionId);
        },
      });
    // The first replica pulls all twenty and handles one every 300 ms; it is stopped while on the first.
    const first = await replica(300);
    await waitFor(() => handled.length === 0, { timeoutMs: 2_000, what: 'a start' });
    await new Promise((r) => setTimeout(r, 150));
    const stopping = Date.now();
    await first.stop();
    // Only the message in hand is finished; the stop does not wait for the other nineteen.
    expect(Date.now() - stopping).toBeLessThan(2_000);
    expect(handled.length).toBeLessThanOrEqual(3);
    // Another replica gets the rest.
    const second = await replica(0);
    try {
      // (The stream also holds the event of the test above, for this new durable too.)
      const mine = () => [...new Set(handled)].filter((id) => ids.includes(id)).sort();
      await waitFor(() => mine().length === ids.length, {
        timeoutMs: 15_000,
        what: 'every message handled',
      });
      expect(mine()).toEqual(ids);
    } finally {
      await second.stop();
    }
  });

  it('sets its durable up again when an operator deletes it', async () => {
    await ensureStreams(nc, ['INTEGRATIONS'], { service: 'connection' });
    const publisher = new EventPublisher(nc);
    const publish = (n: number) => {
      const id = `00000000-0000-4000-8000-${String(9_000 + n).padStart(12, '0')}`;
      return publishAbandoned(publisher, id, id);
    };
    const handled = new Set<string>();
    const lines: string[] = [];
    const consumer = await consumeDurable(nc, {
      stream: 'INTEGRATIONS',
      durable: 'recreated-subscriber',
      subjects: ['integrations.connection.abandoned'],
      logger: createLogger({
        name: 'subscriber',
        destination: { write: (l: string) => void lines.push(l) },
      }),
      handler: async (event) => {
        handled.add(event.connectionId);
      },
    });
    const seen = (n: number) =>
      handled.has(`00000000-0000-4000-8000-${String(9_000 + n).padStart(12, '0')}`);
    const jsm = await nc.jetstreamManager();
    try {
      await publish(1);
      await waitFor(() => seen(1), { timeoutMs: 10_000, what: 'the first event' });
      // An operator deletes the durable.
      await jsm.consumers.delete('INTEGRATIONS', 'recreated-subscriber');
      await publish(2);
      await waitFor(() => seen(2), {
        timeoutMs: 15_000,
        what: 'an event after the durable was deleted',
      });
      expect((await jsm.consumers.info('INTEGRATIONS', 'recreated-subscriber')).num_pending).toBe(
        0,
      );
      expect(lines.join('')).toContain('setting it up again');
    } finally {
      await consumer.stop();
    }
  });

  it('retries a message that keeps failing less and less often, up to the cap', async () => {
    await ensureStreams(nc, ['INTEGRATIONS'], { service: 'connection' });
    const id = '00000000-0000-4000-8000-00000000dead';
    const tries: number[] = [];
    const consumer = await consumeDurable(nc, {
      stream: 'INTEGRATIONS',
      durable: 'failing-subscriber',
      subjects: ['integrations.connection.abandoned'],
      logger: createLogger({ name: 'subscriber', level: 'silent' }),
      retryDelayMs: 200,
      maxRetryDelayMs: 800,
      handler: async (event) => {
        if (event.connectionId !== id) return;
        tries.push(Date.now());
        throw new Error('always fails');
      },
    });
    try {
      await publishAbandoned(new EventPublisher(nc), id, id);
      await waitFor(() => tries.length >= 6, { timeoutMs: 10_000, what: 'six tries' });
      const gaps = tries.slice(1, 6).map((t, i) => t - tries[i]!);
      // 200, 400, 800, 800, 800 ms (the server's own timing adds a little to each).
      expect(gaps[0]).toBeGreaterThanOrEqual(180);
      expect(gaps[0]).toBeLessThan(390);
      expect(gaps[1]).toBeGreaterThanOrEqual(380);
      for (const g of gaps.slice(2)) {
        expect(g).toBeGreaterThanOrEqual(760);
        expect(g).toBeLessThan(1_600);
      }
    } finally {
      await consumer.stop();
    }
  });

  it('a stop while it waits for the stream returns at once', async () => {
    const consumer = await consumeDurable(nc, {
      stream: 'AUDIT',
      durable: 'never-started',
      subjects: ['audit.entries.append'],
      logger: createLogger({ name: 'subscriber', level: 'silent' }),
      handler: async () => undefined,
    });
    const started = Date.now();
    await consumer.stop();
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('a publisher whose stream is gone', () => {
  let nats: TTestNats;
  let nc: NatsConnection;
  const lines: string[] = [];
  const logger = createLogger({
    name: 'publisher',
    destination: { write: (l: string) => void lines.push(l) },
  });
  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connectNats({ url: nats.url, name: 'connection' });
    await ensureStreams(nc, ['INTEGRATIONS']);
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it('creates it again with its one configuration and publishes, instead of failing every publish until a restart', async () => {
    const jsm = await nc.jetstreamManager();
    const publisher = new EventPublisher(nc, { logger });
    await jsm.streams.delete('INTEGRATIONS');
    const eventId = '00000000-0000-4000-8000-0000000000e1';
    const ack = await publishAbandoned(publisher, eventId, '00000000-0000-4000-8000-0000000000c1');
    expect(ack).toMatchObject({ seq: 1, duplicate: false });
    const { config, state } = await jsm.streams.info('INTEGRATIONS');
    expect(config).toMatchObject({
      subjects: [...STREAMS.INTEGRATIONS.subjects],
      max_age: nanos(STREAMS.INTEGRATIONS.maxAgeMs),
      duplicate_window: nanos(STREAMS.INTEGRATIONS.duplicateWindowMs),
    });
    expect(state.messages).toBe(1);
    expect(
      (await jsm.streams.getMessage('INTEGRATIONS', { seq: 1 })).header?.get('Nats-Msg-Id'),
    ).toBe(eventId);
    expect(lines.join('')).toContain('stream was missing: created again');
  });

  it('leaves a stream that exists but no longer captures the subject as it is: the publish fails', async () => {
    const jsm = await nc.jetstreamManager();
    const publisher = new EventPublisher(nc, { logger });
    const { config } = await jsm.streams.info('INTEGRATIONS');
    await jsm.streams.update('INTEGRATIONS', { ...config, subjects: ['changed-by-hand.>'] });
    try {
      expect(
        await publishAbandoned(
          publisher,
          '00000000-0000-4000-8000-0000000000e2',
          '00000000-0000-4000-8000-0000000000c2',
        ).catch((e: unknown) => e),
      ).toMatchObject({ code: 'UNAVAILABLE' });
      expect((await jsm.streams.info('INTEGRATIONS')).config.subjects).toEqual([
        'changed-by-hand.>',
      ]);
    } finally {
      await jsm.streams.update('INTEGRATIONS', config);
    }
  });
});
