import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTRPCClient, httpBatchLink } from '@trpc/client';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { createLogger } from '@otesse/logging';
import {
  initTracing,
  rootSpanIdOf,
  shutdownTracing,
  startOtlpReceiver,
  type TOtlpReceiver,
  type TReceivedSpan,
} from '@otesse/telemetry';
import { waitFor, type TStackService } from '@otesse/testing';
import type { TRunningEdge } from '../edge.server';
import type { AppRouter } from '../routers/app.router';
import {
  connectOAuth,
  startEdgeReplica,
  startHarness,
  trpcErrorOf,
  type THarness,
} from '../test/e2e-harness';

/** A span from either side, in one shape: the in-process edge (in-memory exporter) or a service (OTLP). */
interface TSpan {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  attributes: Record<string, unknown>;
  error: boolean;
}

const fromSdk = (s: ReadableSpan): TSpan => ({
  service: String(s.resource.attributes['service.name']),
  name: s.name,
  traceId: s.spanContext().traceId,
  spanId: s.spanContext().spanId,
  parentSpanId: s.parentSpanContext?.spanId,
  attributes: { ...s.attributes },
  error: s.status.code === 2,
});
const fromOtlp = (s: TReceivedSpan): TSpan => ({
  service: s.service,
  name: s.name,
  traceId: s.traceId,
  spanId: s.spanId,
  parentSpanId: s.parentSpanId,
  attributes: s.attributes,
  error: s.statusCode === 2,
});

/** The value of `name{labels…}` in Prometheus text (labels matched as a subset), 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

/** The disconnect's stages: the steps of one stage run at once, so their spans come in either order. */
const DISCONNECT_STAGES = [
  ['lock'],
  ['disable-sync-jobs'],
  ['revoke-tokens'],
  // This app-level connection is its instance's last: the lock held the instance, so the references are
  // marked instance-wide beside the statuses, and the conditional `mark-instance-references-stale` is skipped
  // (no span, no attempt).
  ['destroy-credentials', 'update-statuses', 'mark-references-stale'],
  ['audit', 'publish-event'],
];
const DISCONNECT_STEPS = DISCONNECT_STAGES.flat();
const stageOf = (step: unknown): number =>
  DISCONNECT_STAGES.findIndex((st) => st.includes(String(step)));

/**
 * Issue 8, observability: services as separate processes exporting OTLP to a receiver started here, the edge
 * in-process (its saga spans to an in-memory exporter) with the saga telemetry edge.server.ts wires (`installObservability`).
 */
describe('observability: one trace per disconnect, metrics per service, logs with trace ids', () => {
  const exporter = new InMemorySpanExporter();
  const edgeLog: string[] = [];
  let receiver: TOtlpReceiver;
  let h: THarness;
  let edge: TRunningEdge;
  let edgeMetricsUrl: string;
  const TRACE = 'c0ffee00c0ffee00c0ffee00c0ffee01';
  const FAILED_TRACE = 'c0ffee00c0ffee00c0ffee00c0ffee02';
  let googleConnectionId: string;

  const viaEdge = (token: string, traceId: string) =>
    createTRPCClient<AppRouter>({
      links: [
        httpBatchLink({
          url: `${edge.url}/trpc`,
          headers: () => ({ authorization: `Bearer ${token}`, 'x-trace-id': traceId }),
        }),
      ],
    });
  const spansOf = (traceId: string): TSpan[] => [
    ...exporter
      .getFinishedSpans()
      .map(fromSdk)
      .filter((s) => s.traceId === traceId),
    ...receiver
      .spans()
      .map(fromOtlp)
      .filter((s) => s.traceId === traceId),
  ];
  const metricsOf = async (service: TStackService): Promise<string> => {
    const proc = h.stack.processes.get(service);
    if (!proc) throw new Error(`${service} is not running`);
    return (await fetch(proc.healthUrl.replace(/\/readyz$/, '/metrics'))).text();
  };

  beforeAll(async () => {
    initTracing({ exporter, simple: true });
    receiver = await startOtlpReceiver();
    h = await startHarness({
      envFor: (s) =>
        s === 'edge'
          ? {}
          : {
              OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
              OTEL_BSP_SCHEDULE_DELAY: '100',
              LOG_LEVEL: 'debug',
            },
    });
    // A second edge replica in this process: the one the disconnects go through.
    edge = await startEdgeReplica(
      h,
      createLogger({
        name: 'edge',
        level: 'debug',
        destination: { write: (line: string) => void edgeLog.push(line) },
      }),
      { publicMetrics: true },
    );
    // startEdge wires the saga telemetry itself and serves /metrics on its own port (when told to).
    edgeMetricsUrl = `${edge.url}/metrics`;
  }, 180_000);
  afterAll(async () => {
    await edge?.stop();
    await h?.close();
    await receiver?.close();
    await shutdownTracing();
  });

  it('syncs records and counts them in the scheduler', async () => {
    const connected = await connectOAuth(h, h.admin, 'google', 'app');
    expect(connected.outcome).toBe('connected');
    googleConnectionId = connected.connectionId!;
    const instanceId = (await h.admin.client.integrations.list.query()).find(
      (i) => i.provider.key === 'google',
    )!.instance!.id;
    const [entry] = (await h.admin.client.sync.listJobs.query({ instanceId })).jobs;
    await h.admin.client.sync.runNow.mutate({ jobId: entry!.job.id });
    const run = await waitFor(
      async () => {
        const { executions } = await h.admin.client.sync.listExecutions.query({
          jobId: entry!.job.id,
        });
        return executions.find((e) => e.status === 'succeeded');
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'a sync to succeed' },
    );
    expect(run.recordsWritten).toBeGreaterThan(0);
    expect(
      sample(await metricsOf('sync-scheduler'), 'otesse_sync_records_total'),
    ).toBeGreaterThanOrEqual(run.recordsWritten);
  });

  it('records a disconnect as one trace: saga, every step, and the handlers in vault, connection and scheduler', async () => {
    const { saga } = await viaEdge(h.admin.token, TRACE).disconnect.start.mutate({
      connectionId: googleConnectionId,
      confirm: true,
      waitMs: 20_000,
    });
    expect(saga.status).toBe('completed');
    const expectedHandlers: [string, string][] = [
      ['connection', 'connection.connections.begin-disconnect'],
      ['sync-scheduler', 'sync-scheduler.jobs.disable-for-connection'],
      ['credential-vault', 'vault.tokens.revoke'],
      ['credential-vault', 'vault.credentials.destroy'],
      ['connection', 'connection.connections.complete-disconnect'],
      ['sync-scheduler', 'sync-scheduler.references.mark-stale'],
    ];
    const spans = await waitFor(
      () => {
        const all = spansOf(TRACE);
        return expectedHandlers.every(([svc, name]) =>
          all.some((s) => s.service === svc && s.name === name),
        ) && all.some((s) => s.name === 'saga disconnect')
          ? all
          : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 100, what: 'every span of the disconnect' },
    );

    // The saga is the trace's root; each step attempt is a span under it.
    const root = spans.filter((s) => s.parentSpanId === undefined);
    expect(root.map((s) => [s.service, s.name])).toEqual([['edge', 'saga disconnect']]);
    expect(root[0]).toMatchObject({
      spanId: rootSpanIdOf(TRACE),
      attributes: { 'saga.id': saga.id, 'saga.status': 'completed' },
    });
    const steps = spans.filter((s) => s.attributes['saga.step'] !== undefined);
    // Every step once, stage after stage.
    expect(steps.map((s) => s.attributes['saga.step']).sort()).toEqual(
      [...DISCONNECT_STEPS].sort(),
    );
    const stages = steps.map((s) => stageOf(s.attributes['saga.step']));
    expect(stages).toEqual([...stages].sort((a, b) => a - b));
    for (const s of steps) {
      expect(s).toMatchObject({
        service: 'edge',
        parentSpanId: rootSpanIdOf(TRACE),
        error: false,
        attributes: { 'saga.id': saga.id, 'saga.phase': 'forward', 'saga.attempt': 1 },
      });
    }

    // Each handler span in a service process is the child of the edge's client span for that request.
    for (const [svc, name] of expectedHandlers) {
      const handler = spans.find((s) => s.service === svc && s.name === name)!;
      const client = spans.find((s) => s.spanId === handler.parentSpanId);
      expect(client, `${svc} ${name} has its edge client span`).toMatchObject({
        service: 'edge',
        name,
      });
      expect(handler.attributes).toMatchObject({
        'messaging.system': 'nats',
        'otesse.outcome': 'ok',
      });
      expect(String(handler.attributes['otesse.idempotency_key'])).toMatch(
        new RegExp(`^${saga.id}:`),
      );
    }
    // One connected tree: every parent is a span of the trace (nested service-to-service calls included).
    const ids = new Set(spans.map((s) => s.spanId));
    for (const s of spans) {
      if (s.parentSpanId !== undefined) expect(ids.has(s.parentSpanId), s.name).toBe(true);
    }
    // Nothing of this saga went to another trace.
    const elsewhere = [
      ...exporter.getFinishedSpans().map(fromSdk),
      ...receiver.spans().map(fromOtlp),
    ].filter(
      (s) =>
        s.traceId !== TRACE &&
        (s.attributes['saga.id'] === saga.id ||
          String(s.attributes['otesse.idempotency_key'] ?? '').startsWith(saga.id)),
    );
    expect(elsewhere).toEqual([]);
  });

  it('exposes the named metrics with non-zero counts on every service and the edge', async () => {
    await h.admin.client.audit.list.query({});
    const handled = (service: string, subject: string) => ({ service, subject, outcome: 'ok' });
    const vault = await metricsOf('credential-vault');
    expect(
      sample(
        vault,
        'otesse_nats_handler_duration_seconds_count',
        handled('credential-vault', 'vault.tokens.revoke'),
      ),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(
        vault,
        'otesse_nats_handler_duration_seconds_count',
        handled('credential-vault', 'vault.credentials.destroy'),
      ),
    ).toBeGreaterThanOrEqual(1);
    const connection = await metricsOf('connection');
    expect(
      sample(
        connection,
        'otesse_nats_handler_duration_seconds_count',
        handled('connection', 'connection.connections.begin-disconnect'),
      ),
    ).toBeGreaterThanOrEqual(1);
    const scheduler = await metricsOf('sync-scheduler');
    expect(
      sample(
        scheduler,
        'otesse_nats_handler_duration_seconds_count',
        handled('sync-scheduler', 'sync-scheduler.references.mark-stale'),
      ),
    ).toBeGreaterThanOrEqual(1);
    // The scheduler asked the vault for an access token to sync: its request latency is measured too.
    expect(
      sample(
        scheduler,
        'otesse_nats_request_duration_seconds_count',
        handled('sync-scheduler', 'vault.access-tokens.get'),
      ),
    ).toBeGreaterThanOrEqual(1);
    expect(sample(scheduler, 'otesse_sync_records_total')).toBeGreaterThan(0);
    const audit = await waitFor(async () => {
      const text = await metricsOf('audit');
      return sample(
        text,
        'otesse_nats_handler_duration_seconds_count',
        handled('audit', 'audit.entries.list'),
      ) > 0
        ? text
        : undefined;
    });
    for (const text of [vault, connection, scheduler, audit]) {
      expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
      expect(
        sample(text, 'otesse_nats_handler_duration_seconds_bucket', { le: '+Inf' }),
      ).toBeGreaterThan(0);
    }

    const edgeText = await (await fetch(edgeMetricsUrl)).text();
    expect(
      sample(edgeText, 'otesse_saga_duration_seconds_count', {
        type: 'disconnect',
        status: 'completed',
      }),
    ).toBe(1);
    for (const step of DISCONNECT_STEPS) {
      expect(
        sample(edgeText, 'otesse_saga_step_duration_seconds_count', {
          type: 'disconnect',
          step,
          phase: 'forward',
          outcome: 'succeeded',
        }),
        step,
      ).toBe(1);
    }
    expect(
      sample(
        edgeText,
        'otesse_nats_request_duration_seconds_count',
        handled('edge', 'vault.tokens.revoke'),
      ),
    ).toBe(1);
  });

  it('serves /metrics on an internal operations port, and on the public one only when told to (HEALTH_PORT, EDGE_PUBLIC_METRICS)', async () => {
    const ops = await startEdgeReplica(h, undefined, {
      health: { port: 0, host: '127.0.0.1' },
      publicMetrics: false,
    });
    try {
      expect(ops.healthPort).toBeGreaterThan(0);
      const internal = `http://127.0.0.1:${ops.healthPort}`;
      // The public port: probes yes, metrics no.
      expect((await fetch(`${ops.url}/metrics`)).status).toBe(404);
      expect((await fetch(`${ops.url}/readyz`)).status).toBe(200);
      // The internal port: metrics (the saga metrics this process registered) and the probes with their checks.
      const metrics = await fetch(`${internal}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain('otesse_saga');
      const ready = await fetch(`${internal}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ ok: true, checks: { nats: true, postgres: true } });
      // The edge told to serves them on its public port; by default an edge does not.
      expect((await fetch(edgeMetricsUrl)).status).toBe(200);
    } finally {
      await ops.stop();
    }
    const plain = await startEdgeReplica(h);
    try {
      expect((await fetch(`${plain.url}/metrics`)).status).toBe(404);
      expect((await fetch(`${plain.url}/readyz`)).status).toBe(200);
    } finally {
      await plain.stop();
    }
  });

  it('logs JSON lines carrying the trace id (and the handler span id), never a secret', async () => {
    const spans = spansOf(TRACE);
    for (const service of ['credential-vault', 'connection', 'sync-scheduler'] as const) {
      const lines = h.stack
        .output(service)
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const traced = lines.filter((l) => l['traceId'] === TRACE);
      expect(traced.length, service).toBeGreaterThan(0);
      const handledLines = traced.filter((l) => l['msg'] === 'request handled');
      expect(handledLines.length, service).toBeGreaterThan(0);
      for (const l of handledLines) {
        expect(
          spans.some(
            (s) => s.service === service && s.spanId === l['spanId'] && s.name === l['subject'],
          ),
          `${service} ${String(l['subject'])} logs its span id`,
        ).toBe(true);
      }
    }
    const secrets = [
      ...(await h.fakeClient.listTokens()).map((t) => t.token),
      h.stack.vaultMasterKey.split(':')[1]!,
      'dev-secret-google',
    ];
    expect(secrets.length).toBeGreaterThan(2);
    const everything = [
      ...(['credential-vault', 'connection', 'sync-scheduler', 'audit'] as const).map((s) =>
        h.stack.output(s),
      ),
      edgeLog.join(''),
      JSON.stringify(spansOf(TRACE)),
    ].join('\n');
    for (const secret of secrets)
      expect(everything.includes(secret), 'a secret leaked').toBe(false);
  });

  it('records failed attempts, retries and compensations as spans and metrics', async () => {
    const { connectionId } = await connectOAuth(h, h.member, 'google', 'user');
    // The scheduler is down: "disable-sync-jobs" finds no responders, retries, then the saga compensates.
    await h.stack.kill('sync-scheduler');
    const err = await trpcErrorOf(
      viaEdge(h.member.token, FAILED_TRACE).disconnect.start.mutate({
        connectionId: connectionId!,
        confirm: true,
        waitMs: 20_000,
      }),
    );
    expect(err.code).toBe('SERVICE_UNAVAILABLE');
    const spans = await waitFor(
      () => {
        const all = spansOf(FAILED_TRACE);
        return all.some((s) => s.name === 'saga disconnect') &&
          all.some(
            (s) =>
              s.service === 'connection' && s.name === 'connection.connections.cancel-disconnect',
          )
          ? all
          : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 100, what: 'the compensated saga’s spans' },
    );
    const saga = spans.find((s) => s.name === 'saga disconnect')!;
    expect(saga).toMatchObject({ error: true, attributes: { 'saga.status': 'compensated' } });
    const disable = spans.filter((s) => s.name === 'step disable-sync-jobs');
    expect(disable.length).toBeGreaterThanOrEqual(2);
    expect(disable.every((s) => s.error && s.attributes['saga.retryable'] === true)).toBe(true);
    expect(disable.map((s) => s.attributes['saga.attempt'])).toEqual(disable.map((_, i) => i + 1));
    expect(spans.find((s) => s.name === 'compensate lock')).toMatchObject({
      error: false,
      parentSpanId: rootSpanIdOf(FAILED_TRACE),
      attributes: { 'saga.phase': 'compensate' },
    });

    const edgeText = await (await fetch(edgeMetricsUrl)).text();
    const step = { type: 'disconnect', step: 'disable-sync-jobs', phase: 'forward' };
    expect(
      sample(edgeText, 'otesse_saga_step_failures_total', { ...step, retryable: 'true' }),
    ).toBe(disable.length);
    expect(sample(edgeText, 'otesse_saga_step_retries_total', step)).toBe(disable.length - 1);
    expect(
      sample(edgeText, 'otesse_saga_duration_seconds_count', {
        type: 'disconnect',
        status: 'compensated',
      }),
    ).toBe(1);
    expect(
      sample(edgeText, 'otesse_saga_step_duration_seconds_count', {
        type: 'disconnect',
        step: 'lock',
        phase: 'compensate',
        outcome: 'succeeded',
      }),
    ).toBe(1);
    expect(
      sample(edgeText, 'otesse_nats_request_duration_seconds_count', {
        service: 'edge',
        subject: 'sync-scheduler.jobs.disable-for-connection',
        outcome: 'UNAVAILABLE',
      }),
    ).toBe(disable.length);
  });
});
