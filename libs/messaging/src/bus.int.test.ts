import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import { AppError } from '@otesse/contracts';
import { createLogger } from '@otesse/logging';
import { metricsText } from '@otesse/telemetry';
import { startNatsServer, type TTestNats } from '@otesse/testing';
import { Bus } from './bus';
import { connectNats } from './nats-connection';
import { serveService, type TServiceHandle } from './service-host';
import { EventPublisher, ensureStreams } from './jetstream';

const logger = createLogger({ name: 'test', level: 'silent' });

describe('messaging over a real NATS server', () => {
  let nats: TTestNats;
  let nc: NatsConnection;
  let svc: TServiceHandle;
  let bus: Bus;
  let seenTrace: string | undefined;
  let seenSpan: string | undefined;

  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connectNats({ url: nats.url, name: 'test' });
    svc = await serveService(nc, {
      name: 'audit',
      version: '0.0.1',
      prefix: 'audit',
      logger,
      handlers: {
        'audit.entries.list': async (req, ctx) => {
          seenTrace = ctx.traceId;
          seenSpan = ctx.spanId;
          if (req.limit === 13) throw new Error('boom with secret fpa_abc');
          if (req.limit === 7) throw new AppError('FORBIDDEN', 'nope', { reason: 'test' });
          if (req.limit === 9) return { entries: 'not an array' } as never;
          return { entries: [], nextCursor: null };
        },
        // Not exercised here: the service must still answer every subject of its prefix.
        'audit.chain.verify': async () => {
          throw new AppError('UNAVAILABLE', 'not in this test');
        },
      },
    });
    bus = new Bus(nc, { timeoutMs: 2_000 });
  });
  afterAll(async () => {
    await svc?.stop();
    await nc?.close();
    await nats?.stop();
  });

  const orgId = '00000000-0000-4000-8000-000000000001';

  it('round-trips a valid request and carries the trace id', async () => {
    const reply = await bus.request(
      'audit.entries.list',
      { orgId },
      { ctx: { traceId: 'trace-1' } },
    );
    expect(reply).toEqual({ entries: [], nextCursor: null });
    expect(seenTrace).toBe('trace-1');
  });

  it("with tracing off, passes the sender's span through (traceparent) and still counts latency", async () => {
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    await bus.request(
      'audit.entries.list',
      { orgId },
      { ctx: { traceId, spanId: 'b7ad6b7169203331' } },
    );
    expect(seenTrace).toBe(traceId);
    expect(seenSpan).toBe('b7ad6b7169203331');
    await bus.request('audit.entries.list', { orgId }, { ctx: { traceId } });
    expect(seenSpan).toBeUndefined();
    const text = await metricsText();
    expect(text).toMatch(
      /otesse_nats_handler_duration_seconds_count\{service="audit",subject="audit.entries.list",outcome="ok"\} [1-9]/,
    );
    expect(text).toMatch(
      /otesse_nats_request_duration_seconds_count\{service="test",subject="audit.entries.list",outcome="ok"\} [1-9]/,
    );
  });

  it('refuses an invalid request before sending it', async () => {
    await expect(bus.request('audit.entries.list', { orgId: 'nope' })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
  });

  it('answers malformed payloads with a typed error reply and stays up', async () => {
    for (const body of ['not json', '{"orgId":1}', '[]', '']) {
      const msg = await nc.request('audit.entries.list', new TextEncoder().encode(body), {
        timeout: 2_000,
      });
      expect(msg.headers?.get('Nats-Service-Error-Code')).toBe('400');
      expect(JSON.parse(new TextDecoder().decode(msg.data))).toMatchObject({
        error: { code: 'BAD_REQUEST' },
      });
    }
    await expect(bus.request('audit.entries.list', { orgId })).resolves.toBeTruthy();
  });

  it('turns handler failures into typed errors without leaking the message', async () => {
    await expect(bus.request('audit.entries.list', { orgId, limit: 7 })).rejects.toMatchObject({
      code: 'FORBIDDEN',
      reason: 'test',
    });
    const err = await bus
      .request('audit.entries.list', { orgId, limit: 13 })
      .catch((e: AppError) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('INTERNAL');
    expect((err as AppError).message).not.toContain('fpa_');
    await expect(bus.request('audit.entries.list', { orgId, limit: 9 })).rejects.toMatchObject({
      code: 'INTERNAL',
    });
  });

  it('reports no responders as UNAVAILABLE', async () => {
    await expect(bus.request('vault.keys.rotate', {})).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      reason: 'no_responders',
    });
  });

  it('registers the service for $SRV discovery and stats', async () => {
    const client = nc.services.client();
    const infos = [];
    for await (const info of await client.info('audit')) infos.push(info);
    expect(infos[0]?.endpoints.map((e) => e.subject)).toContain('audit.entries.list');
    const stats = [];
    for await (const s of await client.stats('audit')) stats.push(s);
    expect(stats[0]?.endpoints?.[0]?.num_requests).toBeGreaterThan(0);
    expect(stats[0]?.endpoints?.[0]?.data).toMatchObject({ errors: expect.any(Number) });
    expect((stats[0]?.endpoints?.[0]?.data as { errors: number }).errors).toBeGreaterThan(0);
  });

  it('dedupes a duplicate event publish by msgID', async () => {
    await ensureStreams(nc);
    const pub = new EventPublisher(nc);
    const event = {
      eventId: '00000000-0000-4000-8000-0000000000aa',
      orgId,
      actorUserId: null,
      action: 'connection.connected' as const,
      outcome: 'success' as const,
      occurredAt: new Date().toISOString(),
    };
    const a = await pub.publish('audit.entries.append', event, { msgId: event.eventId });
    const b = await pub.publish('audit.entries.append', event, { msgId: event.eventId });
    expect(a.duplicate).toBe(false);
    expect(b.duplicate).toBe(true);
    await expect(
      pub.publish(
        'audit.entries.append',
        { ...event, details: { accessToken: 'x' } },
        { msgId: 'x' },
      ),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });
});
