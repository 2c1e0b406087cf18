import {
  context,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  RandomIdGenerator,
  SimpleSpanProcessor,
  TracerProvider,
  type IdGenerator,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { telemetryConfigFromEnv, type TTelemetryConfig } from './telemetry-env.schema';

export { SpanKind } from '@opentelemetry/api';
export type { Span, SpanContext } from '@opentelemetry/api';

export interface TTracingOptions extends TTelemetryConfig {
  /** Instead of OTLP (tests: `InMemorySpanExporter`). */
  exporter?: SpanExporter;
  /** Export each span as it ends instead of in batches (tests). */
  simple?: boolean;
}

/** A parent given by ids: from a traceparent header, or a span that is (or will be) recorded elsewhere. */
export interface TSpanParent {
  traceId: string;
  spanId: string;
  /** Received from another process (false: a span of this process, recorded before or after). */
  isRemote?: boolean;
}

/**
 * Random ids, except when the next id is pinned: after-the-fact spans (a saga, recorded when it ends) need the id
 * their children already referenced. Pins are set and consumed synchronously inside one `startSpan` call.
 */
class PinnableIdGenerator implements IdGenerator {
  private readonly random = new RandomIdGenerator();
  nextTraceId: string | undefined;
  nextSpanId: string | undefined;
  generateTraceId(): string {
    const id = this.nextTraceId;
    this.nextTraceId = undefined;
    return id ?? this.random.generateTraceId();
  }
  generateSpanId(): string {
    const id = this.nextSpanId;
    this.nextSpanId = undefined;
    return id ?? this.random.generateSpanId();
  }
}

interface TTracingState {
  processor: SpanProcessor;
  ids: PinnableIdGenerator;
  /** One provider per service: in-process tests run several services, each keeps its `service.name`. */
  providers: Map<string, Tracer>;
  instanceId: string | undefined;
  contextManager: AsyncLocalStorageContextManager;
}

let state: TTracingState | undefined;
let configured = false;

/** Hot path: false unless an exporter is configured; then spans are created and context flows through ALS. */
export function tracingEnabled(): boolean {
  return state !== undefined;
}

/**
 * Starts tracing with an exporter (OTLP/HTTP to `tracesUrl`, or `exporter`); with neither, tracing stays off.
 * Every process calls this at most once before it serves (or `ensureTracing` does it from the environment).
 */
export function initTracing(opts: TTracingOptions): void {
  if (state) throw new Error('tracing is already initialised: call shutdownTracing() first');
  configured = true;
  const exporter =
    opts.exporter ??
    (opts.tracesUrl
      ? new OTLPTraceExporter({ url: opts.tracesUrl, headers: opts.headers ?? {} })
      : undefined);
  if (!exporter) return;
  const processor = opts.simple
    ? new SimpleSpanProcessor({ exporter })
    : new BatchSpanProcessor({
        exporter,
        scheduledDelayMillis: opts.scheduleDelayMs ?? 2_000,
        maxQueueSize: 8_192,
        maxExportBatchSize: 512,
      });
  // Async context only when spans are recorded: AsyncLocalStorage costs every promise a hook on Node 20.
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  state = {
    processor,
    ids: new PinnableIdGenerator(),
    providers: new Map(),
    instanceId: opts.instanceId,
    contextManager,
  };
}

/** Initialises tracing from the process environment (OTEL_EXPORTER_OTLP_ENDPOINT…) unless already done. */
export function ensureTracing(source: Record<string, string | undefined> = process.env): void {
  if (configured) return;
  initTracing(telemetryConfigFromEnv(source));
}

/** Sends every finished span now (tests, before a graceful exit). */
export async function flushTracing(): Promise<void> {
  await state?.processor.forceFlush();
}

/** Flushes and stops; tracing can be initialised again afterwards. */
export async function shutdownTracing(): Promise<void> {
  const s = state;
  state = undefined;
  configured = false;
  if (!s) return;
  await s.processor.shutdown();
  context.disable();
}

function tracerFor(s: TTracingState, service: string): Tracer {
  let tracer = s.providers.get(service);
  if (!tracer) {
    const provider = new TracerProvider({
      resource: resourceFromAttributes({
        'service.name': service,
        'service.namespace': 'otesse',
        ...(s.instanceId ? { 'service.instance.id': s.instanceId } : {}),
      }),
      sampler: new AlwaysOnSampler(),
      idGenerator: s.ids,
      spanProcessors: [s.processor],
    });
    tracer = provider.getTracer('@otesse/telemetry');
    s.providers.set(service, tracer);
  }
  return tracer;
}

function parentContext(parent: TSpanParent | undefined): Context {
  if (!parent) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: parent.traceId,
    spanId: parent.spanId,
    traceFlags: TraceFlags.SAMPLED,
    isRemote: parent.isRemote ?? true,
  });
}

const NOOP_SPAN = trace.wrapSpanContext({
  traceId: '0'.repeat(32),
  spanId: '0'.repeat(16),
  traceFlags: TraceFlags.NONE,
});

/** A span of `service` under `parent` (none: a new trace). A non-recording span while tracing is off. */
export function startSpan(
  service: string,
  name: string,
  opts: { kind?: SpanKind; parent?: TSpanParent | undefined; attributes?: Attributes } = {},
): Span {
  const s = state;
  if (!s) return NOOP_SPAN;
  return tracerFor(s, service).startSpan(
    name,
    {
      kind: opts.kind ?? SpanKind.INTERNAL,
      ...(opts.attributes ? { attributes: opts.attributes } : {}),
    },
    parentContext(opts.parent),
  );
}

/** Runs `fn` with `span` active, so requests it sends and lines it logs carry that span. */
export function runInSpan<T>(span: Span, fn: () => T): T {
  if (!state) return fn();
  return context.with(trace.setSpan(context.active(), span), fn);
}

/** The span active in this async context (only while tracing is on). */
export function activeSpanContext(): SpanContext | undefined {
  if (!state) return undefined;
  const sc = trace.getSpanContext(context.active());
  return sc && trace.isSpanContextValid(sc) ? sc : undefined;
}

/** `ok` or an error code: recorded as an attribute, and the span's status is an error for anything but `ok`. */
export function endSpan(span: Span, outcome: string, message?: string): void {
  if (!span.isRecording()) return;
  span.setAttribute('otesse.outcome', outcome);
  if (outcome !== 'ok') {
    span.setAttribute('error.type', outcome);
    span.setStatus({ code: SpanStatusCode.ERROR, ...(message ? { message } : {}) });
  }
  span.end();
}

/**
 * Records a span that already happened (a saga step, known only once its attempt finished). `spanId` pins the
 * span's own id when children already point at it; without `parentSpanId` the span is the root of `traceId`.
 */
export function recordSpan(
  service: string,
  name: string,
  opts: {
    traceId: string;
    spanId?: string | undefined;
    parentSpanId?: string | undefined;
    /** Epoch ms. */
    startTime: number;
    endTime: number;
    kind?: SpanKind;
    attributes?: Attributes;
    outcome?: string;
    message?: string;
  },
): void {
  const s = state;
  if (!s) return;
  s.ids.nextSpanId = opts.spanId;
  if (!opts.parentSpanId) s.ids.nextTraceId = opts.traceId;
  let span: Span;
  try {
    span = tracerFor(s, service).startSpan(
      name,
      {
        kind: opts.kind ?? SpanKind.INTERNAL,
        startTime: opts.startTime,
        ...(opts.attributes ? { attributes: opts.attributes } : {}),
      },
      opts.parentSpanId
        ? parentContext({ traceId: opts.traceId, spanId: opts.parentSpanId, isRemote: false })
        : ROOT_CONTEXT,
    );
  } finally {
    s.ids.nextSpanId = undefined;
    s.ids.nextTraceId = undefined;
  }
  if (opts.outcome && opts.outcome !== 'ok') {
    span.setAttribute('error.type', opts.outcome);
    span.setStatus({
      code: SpanStatusCode.ERROR,
      ...(opts.message ? { message: opts.message } : {}),
    });
  }
  span.end(opts.endTime);
}

/**
 * `{ traceId, spanId }` of the active span for log lines (pino `mixin`); empty while tracing is off. A new object
 * every call: pino merges the line's fields into it.
 */
export function activeTraceFields(): Record<string, string> {
  const sc = activeSpanContext();
  return sc ? { traceId: sc.traceId, spanId: sc.spanId } : {};
}
