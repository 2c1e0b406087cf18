import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nanos, type NatsConnection } from 'nats';
import { STREAMS } from '@otesse/contracts';
import { startNatsServer, type TTestNats } from '@otesse/testing';
import { ensureStreams } from './jetstream';
import { connectNats } from './nats-connection';

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

  it('non-owners starting at the same moment all succeed, and one stream exists', async () => {
    await Promise.all(
      Array.from({ length: 5 }, () => ensureStreams(nc, ['INTEGRATIONS'], { service: 'edge' })),
    );
    const jsm = await nc.jetstreamManager();
    expect((await jsm.streams.info('INTEGRATIONS')).config.subjects).toEqual(['integrations.>']);
  });
});
