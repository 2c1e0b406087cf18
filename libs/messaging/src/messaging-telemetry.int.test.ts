import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headers as natsHeaders, type NatsConnection } from 'nats';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { AppError, HEADERS } from '@otesse/contracts';
import { createLogger } from '@otesse/logging';
import {
  initTracing,
  metricsText,
  rootSpanIdOf,
  shutdownTracing,
  toOtelTraceId,
  TRACEPARENT_HEADER,
} from '@otesse/telemetry';
import { startNatsServer, waitFor, type TTestNats } from '@otesse/testing';
import { Bus } from './bus';
import { encodeJson } from './codec';
import type { TMessageContext } from './context';
import { consumeDurable, ensureStreams, EventPublisher, type TConsumerHandle } from './jetstream';
import { connectNats } from './nats-connection';
import { serveService, type TServiceHandle } from './service-host';

const logger = createLogger({ name: 'test', level: 'silent' });
const orgId = '00000000-0000-4000-8000-000000000001';
const TRACE = '0af7651916cd43dd8448eb211c80319c';

/** The value of a sample line `name{labels} value` in Prometheus text, 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (Object.entries(labels).every(([k, v]) => body.includes(`${k}="${v}"`))) {
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return 0;
}

describe('trace context and metrics over a real NATS server (tracing on, in-memory exporter)', () => {
  const exporter = new InMemorySpanExporter();
  let nats: TTestNats;
  let edgeNc: NatsConnection;
  let auditNc: NatsConnection;
  let chainNc: NatsConnection;
  let entries: TServiceHandle;
  let chain: TServiceHandle;
  let consumer: TConsumerHandle | undefined;
  let bus: Bus;
  const seen: TMessageContext[] = [];
  const consumed: TMessageContext[] = [];

  beforeAll(async () => {
    initTracing({ exporter, simple: true });
    nats = await startNatsServer();
    // Three connections named as three services would be.
    edgeNc = await connectNats({ url: nats.url, name: 'edge' });
    auditNc = await connectNats({ url: nats.url, name: 'audit' });
    chainNc = await connectNats({ url: nats.url, name: 'audit-chain' });
    const auditBus = new Bus(auditNc, { timeoutMs: 2_000 });
    entries = await serveService(auditNc, {
      name: 'audit',
      version: '0.0.1',
      prefix: 'audit.entries',
      logger,
      handlers: {
        'audit.entries.list': async (req, ctx) => {
          seen.push({ ...ctx });
          if (req.limit === 7) throw new AppError('FORBIDDEN', 'nope');
          // Forwards only the trace id, as most handlers do: the active span still parents the nested call.
          await auditBus.request(
            'audit.chain.verify',
            { orgId },
            { ctx: { traceId: ctx.traceId } },
          );
          return { entries: [], nextCursor: null };
        },
      },
    });
    chain = await serveService(chainNc, {
      name: 'audit-chain',
      version: '0.0.1',
      prefix: 'audit.chain',
      logger,
      handlers: {
        'audit.chain.verify': async (_req, ctx) => {
          seen.push({ ...ctx });
          return { ok: true, checked: 0, firstBrokenSeq: null, reason: null };
        },
      },
    });
    bus = new Bus(edgeNc, { timeoutMs: 2_000 });
  });
  afterAll(async () => {
    await consumer?.stop();
    await entries?.stop();
    await chain?.stop();
    await Promise.all([edgeNc, auditNc, chainNc].map((nc) => nc?.close()));
    await nats?.stop();
    await shutdownTracing();
  });

  const spansOf = (traceId: string): ReadableSpan[] =>
    exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);

  it('links client and handler spans across connections into one trace, nested calls included', async () => {
    await bus.request('audit.entries.list', { orgId }, { ctx: { traceId: TRACE, orgId } });
    const spans = spansOf(TRACE);
    const by = (service: string, name: string): ReadableSpan => {
      const s = spans.find(
        (x) => x.resource.attributes['service.name'] === service && x.name === name,
      );
      if (!s) throw new Error(`no span ${service} ${name}`);
      return s;
    };
    const edgeClient = by('edge', 'audit.entries.list');
    const auditServer = by('audit', 'audit.entries.list');
    const auditClient = by('audit', 'audit.chain.verify');
    const chainServer = by('audit-chain', 'audit.chain.verify');
    expect(spans).toHaveLength(4);
    // No span given by the caller: the request hangs under the trace's root (a saga's span).
    expect(edgeClient.parentSpanContext?.spanId).toBe(rootSpanIdOf(TRACE));
    expect(auditServer.parentSpanContext?.spanId).toBe(edgeClient.spanContext().spanId);
    expect(auditClient.parentSpanContext?.spanId).toBe(auditServer.spanContext().spanId);
    expect(chainServer.parentSpanContext?.spanId).toBe(auditClient.spanContext().spanId);
    expect(edgeClient.kind).toBe(2); // CLIENT
    expect(auditServer.kind).toBe(1); // SERVER
    expect(auditServer.attributes).toMatchObject({
      'messaging.system': 'nats',
      'messaging.destination.name': 'audit.entries.list',
      'otesse.org_id': orgId,
      'otesse.outcome': 'ok',
    });
    // Handlers see the Otesse trace id unchanged and their own span id.
    expect(seen.at(-2)).toMatchObject({ traceId: TRACE, spanId: auditServer.spanContext().spanId });
    expect(seen.at(-1)).toMatchObject({ traceId: TRACE, spanId: chainServer.spanContext().spanId });
  });

  it('marks failed requests on both sides and counts them by outcome', async () => {
    const trace = 'f'.repeat(31) + '1';
    await expect(
      bus.request('audit.entries.list', { orgId, limit: 7 }, { ctx: { traceId: trace } }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const spans = spansOf(trace);
    expect(spans.map((s) => [s.name, s.attributes['otesse.outcome'], s.status.code])).toEqual([
      ['audit.entries.list', 'FORBIDDEN', 2],
      ['audit.entries.list', 'FORBIDDEN', 2],
    ]);
    const text = await metricsText();
    const labels = { service: 'audit', subject: 'audit.entries.list' };
    expect(
      sample(text, 'otesse_nats_handler_duration_seconds_count', { ...labels, outcome: 'ok' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, 'otesse_nats_handler_duration_seconds_count', {
        ...labels,
        outcome: 'FORBIDDEN',
      }),
    ).toBe(1);
    expect(
      sample(text, 'otesse_nats_request_duration_seconds_count', {
        service: 'edge',
        subject: 'audit.entries.list',
        outcome: 'FORBIDDEN',
      }),
    ).toBe(1);
    expect(
      sample(text, 'otesse_nats_request_duration_seconds_count', {
        service: 'audit',
        subject: 'audit.chain.verify',
        outcome: 'ok',
      }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('stays compatible: Otesse-Trace-Id alone, traceparent alone, or a non-hex trace id', async () => {
    const raw = async (h: Record<string, string>): Promise<void> => {
      const hdrs = natsHeaders();
      for (const [k, v] of Object.entries(h)) hdrs.set(k, v);
      await edgeNc.request('audit.entries.list', encodeJson({ orgId }), {
        timeout: 2_000,
        headers: hdrs,
      });
    };
    // An older sender: the trace id only.
    const legacy = '1c6e2e1ad6c04c8aa6fd5fd4a9dbf7e1';
    await raw({ [HEADERS.traceId]: legacy });
    expect(seen.at(-2)?.traceId).toBe(legacy);
    const legacyServer = spansOf(legacy).find(
      (s) => s.kind === 1 && s.name === 'audit.entries.list',
    );
    expect(legacyServer?.parentSpanContext?.spanId).toBe(rootSpanIdOf(legacy));

    // A W3C-only sender (another OTel-instrumented system).
    const w3cTrace = '5b8efff798038103d269b633813fc60c';
    await raw({ [TRACEPARENT_HEADER]: `00-${w3cTrace}-eee19b7ec3c1b174-01` });
    expect(seen.at(-2)?.traceId).toBe(w3cTrace);
    const w3cServer = spansOf(w3cTrace).find(
      (s) => s.kind === 1 && s.name === 'audit.entries.list',
    );
    expect(w3cServer?.parentSpanContext?.spanId).toBe('eee19b7ec3c1b174');

    // A client-chosen id that is not 32 hex digits keeps its value for logs and maps to one OTel trace.
    await bus.request('audit.entries.list', { orgId }, { ctx: { traceId: 'client-abc-123' } });
    expect(seen.at(-2)?.traceId).toBe('client-abc-123');
    expect(spansOf(toOtelTraceId('client-abc-123'))).toHaveLength(4);
  });

  it('puts traceparent on the wire next to the Otesse trace id', async () => {
    const sub = edgeNc.subscribe('audit.entries.list', { max: 1 });
    const got = (async () => {
      for await (const m of sub) return m.headers;
      return undefined;
    })();
    await bus.request('audit.entries.list', { orgId }, { ctx: { traceId: TRACE } });
    const h = await got;
    expect(h?.get(HEADERS.traceId)).toBe(TRACE);
    expect(h?.get(TRACEPARENT_HEADER)).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`));
  });

  it('traces a JetStream publish into its durable consumer and counts both', async () => {
    await ensureStreams(edgeNc, ['AUDIT']);
    consumer = await consumeDurable(auditNc, {
      stream: 'AUDIT',
      durable: 'telemetry-test',
      subjects: ['audit.entries.append'],
      logger,
      handler: async (_event, { ctx }) => {
        consumed.push({ ...ctx });
      },
    });
    const trace = '7f2f0e3a2b1c4d5e8f9a0b1c2d3e4f50';
    const eventId = '00000000-0000-4000-8000-0000000000bb';
    await new EventPublisher(edgeNc).publish(
      'audit.entries.append',
      {
        eventId,
        orgId,
        actorUserId: null,
        action: 'connection.connected',
        outcome: 'success',
        occurredAt: new Date().toISOString(),
      },
      { msgId: eventId, ctx: { traceId: trace } },
    );
    await waitFor(() => consumed.some((c) => c.traceId === trace), { timeoutMs: 5_000 });
    const producer = spansOf(trace).find((s) => s.kind === 3);
    const consumerSpan = await waitFor(() => spansOf(trace).find((s) => s.kind === 4), {
      timeoutMs: 5_000,
    });
    expect(producer?.resource.attributes['service.name']).toBe('edge');
    expect(consumerSpan.resource.attributes['service.name']).toBe('audit');
    expect(consumerSpan.parentSpanContext?.spanId).toBe(producer?.spanContext().spanId);
    const text = await metricsText();
    expect(
      sample(text, 'otesse_nats_request_duration_seconds_count', {
        service: 'edge',
        subject: 'audit.entries.append',
        outcome: 'ok',
      }),
    ).toBe(1);
    expect(
      sample(text, 'otesse_nats_handler_duration_seconds_count', {
        service: 'audit',
        subject: 'audit.entries.append',
        outcome: 'ok',
      }),
    ).toBe(1);
  });
});
