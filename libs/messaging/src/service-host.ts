import type { NatsConnection, Service, ServiceMsg } from 'nats';
import {
  AppError,
  APP_ERROR_STATUS,
  requestContracts,
  zodIssues,
  type TReplyInput,
  type TRequestOf,
  type TRequestSubject,
  type TSubjectsOf,
} from '@otesse/contracts';
import type { Logger } from '@otesse/logging';
import { endSpan, ensureTracing, runInSpan, SpanKind, tracingEnabled } from '@otesse/telemetry';
import { decodeJson, encodeJson } from './codec';
import { contextFromHeaders, type TMessageContext } from './context';
import { natsHandlerDuration, startHandlerSpan } from './messaging-telemetry';

export type THandler<S extends TRequestSubject> = (
  req: TRequestOf<S>,
  ctx: TMessageContext,
) => Promise<TReplyInput<S>>;

/** Exactly the subjects under a service's prefix, each with a handler that sees only its own payload. */
export type THandlers<P extends string> = { [S in TSubjectsOf<P>]: THandler<S> };

export interface TEndpointCounters {
  requests: number;
  errors: number;
  totalMs: number;
  lastError: string | null;
}

export interface TServiceHandle {
  service: Service;
  stop(): Promise<void>;
  /** Requests being handled right now (graceful shutdown waits for them). */
  inFlight(): number;
}

/**
 * Registers a NATS micro-service (so `$SRV.PING|INFO|STATS` discover it) with one endpoint per subject,
 * all in queue group `q` so replicas share the load. Every message gets exactly one answer: the reply, or a
 * typed error reply — nats.js 2.29 does not await handlers, so a rejection must never escape.
 */
export async function serveService<P extends string>(
  nc: NatsConnection,
  opts: {
    name: string;
    version: string;
    description?: string;
    prefix: P;
    handlers: THandlers<P>;
    logger: Logger;
    queue?: string;
    /** Bytes; larger payloads are refused before parsing. */
    maxPayloadBytes?: number;
    /**
     * Names an unexpected failure in the error vocabulary when it can (an unreachable database: UNAVAILABLE, which
     * the caller retries); anything it leaves undefined is INTERNAL.
     */
    mapError?: (e: unknown) => AppError | undefined;
  },
): Promise<TServiceHandle> {
  ensureTracing();
  // nats.js counts errors and latency only for synchronous handlers, so each endpoint keeps its own figures
  // and `$SRV.STATS` reports them in the endpoint's `data`.
  const counters = new Map<string, TEndpointCounters>();
  const service = await nc.services.add({
    name: opts.name,
    version: opts.version,
    description: opts.description ?? opts.name,
    queue: opts.queue ?? 'q',
    statsHandler: async (endpoint) => {
      const c = counters.get(endpoint.subject);
      return c ? { ...c, averageMs: c.requests ? c.totalMs / c.requests : 0 } : {};
    },
  });
  let inFlight = 0;
  const maxBytes = opts.maxPayloadBytes ?? 256 * 1024;
  for (const [subject, handler] of Object.entries(opts.handlers) as [
    TRequestSubject,
    THandler<TRequestSubject>,
  ][]) {
    const contract = requestContracts[subject];
    const stats: TEndpointCounters = { requests: 0, errors: 0, totalMs: 0, lastError: null };
    counters.set(subject, stats);
    const okLatency = natsHandlerDuration.labels(opts.name, subject, 'ok');
    const handle = async (msg: ServiceMsg): Promise<void> => {
      inFlight += 1;
      const started = performance.now();
      const ctx = contextFromHeaders(msg.headers);
      const span = tracingEnabled()
        ? startHandlerSpan(opts.name, subject, SpanKind.SERVER, ctx)
        : undefined;
      // Nested requests the handler sends with this ctx hang under its span.
      if (span) ctx.spanId = span.spanContext().spanId;
      let outcome = 'ok';
      // A child logger costs ~10 µs with redaction: build it only when something is logged.
      const log = {
        error: (o: object, m: string) =>
          opts.logger.error({ ...o, subject, traceId: ctx.traceId, spanId: ctx.spanId }, m),
        warn: (o: object, m: string) =>
          opts.logger.warn({ ...o, subject, traceId: ctx.traceId, spanId: ctx.spanId }, m),
        debug: (o: object, m: string) =>
          opts.logger.debug({ ...o, subject, traceId: ctx.traceId, spanId: ctx.spanId }, m),
      };
      try {
        if (msg.data.length > maxBytes) {
          throw new AppError('PAYLOAD_TOO_LARGE', `payload exceeds ${maxBytes} bytes`);
        }
        const body = decodeJson(msg.data);
        if (!body.ok) throw new AppError('BAD_REQUEST', 'payload is not JSON');
        const parsed = contract.request.safeParse(body.value);
        if (!parsed.success) {
          throw new AppError('BAD_REQUEST', `invalid ${subject} request`, {
            details: zodIssues(parsed.error),
          });
        }
        const result = span
          ? await runInSpan(span, () => handler(parsed.data as never, ctx))
          : await handler(parsed.data as never, ctx);
        const reply = contract.reply.safeParse(result);
        if (!reply.success) {
          log.error({ issues: zodIssues(reply.error) }, 'handler reply breaks its contract');
          throw new AppError('INTERNAL', 'reply does not match its contract');
        }
        msg.respond(encodeJson(reply.data));
      } catch (e) {
        const mapped = e instanceof AppError ? e : opts.mapError?.(e);
        const err = mapped ?? new AppError('INTERNAL', 'internal error');
        if (!mapped || err.code === 'INTERNAL') log.error({ err: e }, 'handler failed');
        // Mapped (the database is unreachable): one line with the code, not a stack per request of an outage.
        else if (!(e instanceof AppError))
          log.warn({ code: err.code, reason: err.reason }, 'handler failed; answered retryable');
        else log.debug({ code: err.code, reason: err.reason }, 'typed error reply');
        stats.errors += 1;
        stats.lastError = err.code;
        outcome = err.code;
        msg.respondError(APP_ERROR_STATUS[err.code], err.message, encodeJson(err.toReply()));
      } finally {
        const ms = performance.now() - started;
        stats.requests += 1;
        stats.totalMs += ms;
        inFlight -= 1;
        (outcome === 'ok'
          ? okLatency
          : natsHandlerDuration.labels(opts.name, subject, outcome)
        ).observe(ms / 1_000);
        if (span) endSpan(span, outcome);
        if (opts.logger.isLevelEnabled('debug')) {
          log.debug({ outcome, ms: Math.round(ms * 1_000) / 1_000 }, 'request handled');
        }
      }
    };
    service.addEndpoint(subject.replaceAll('.', '_'), {
      subject,
      handler: (err, msg) => {
        if (err) {
          opts.logger.error({ err, subject }, 'endpoint subscription failed');
          return;
        }
        void handle(msg);
      },
      metadata: { errors: contract.errors.join(',') },
    });
  }
  return {
    service,
    inFlight: () => inFlight,
    stop: async () => {
      await service.stop();
    },
  };
}
