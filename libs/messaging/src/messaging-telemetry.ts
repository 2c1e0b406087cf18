import type { NatsConnection } from 'nats';
import type { Attributes } from '@opentelemetry/api';
import {
  activeSpanContext,
  histogram,
  rootSpanIdOf,
  startSpan,
  toOtelTraceId,
  type Span,
  type SpanKind,
  type TSpanParent,
} from '@otesse/telemetry';
import { newTraceId, type TMessageContext } from './context';

/** Receipt to reply of every handler (request endpoints and JetStream consumers). */
export const natsHandlerDuration = histogram(
  'otesse_nats_handler_duration_seconds',
  'NATS handler latency from receipt to reply (or ack), by service, subject and outcome (ok or the error code).',
  ['service', 'subject', 'outcome'],
);

/** What a sender waits for: a request's reply or a JetStream publish's ack. */
export const natsRequestDuration = histogram(
  'otesse_nats_request_duration_seconds',
  'NATS request (or JetStream publish) round trip as the sender sees it, by sender, subject and outcome.',
  ['service', 'subject', 'outcome'],
);

/** The connection's client name (`connectNats({ name })`): the service a Bus or publisher belongs to. */
export function clientNameOf(nc: NatsConnection): string {
  const name = (nc as unknown as { options?: { name?: unknown } }).options?.name;
  return typeof name === 'string' && name ? name : 'unknown';
}

export function messageAttributes(
  subject: string,
  operation: 'send' | 'process',
  ctx: Partial<TMessageContext> | undefined,
): Attributes {
  const a: Attributes = {
    'messaging.system': 'nats',
    'messaging.destination.name': subject,
    'messaging.operation.type': operation,
  };
  if (ctx?.orgId) a['otesse.org_id'] = ctx.orgId;
  if (ctx?.idempotencyKey) a['otesse.idempotency_key'] = ctx.idempotencyKey;
  return a;
}

/**
 * The span a sender records around a request or publish (tracing on only), and the context to put in the headers.
 * Parent: the active span when it is in the same trace (a handler calling another service), else the span the
 * context names, else the trace's root (a saga step's command: its saga's span).
 */
export function startSendSpan(
  service: string,
  subject: string,
  kind: SpanKind.CLIENT | SpanKind.PRODUCER,
  ctx: Partial<TMessageContext> | undefined,
): { span: Span; ctx: Partial<TMessageContext> } {
  const active = activeSpanContext();
  const traceId = ctx?.traceId ?? active?.traceId ?? newTraceId();
  const otelTraceId = toOtelTraceId(traceId);
  const parent: TSpanParent =
    active && active.traceId === otelTraceId
      ? { traceId: otelTraceId, spanId: active.spanId, isRemote: false }
      : { traceId: otelTraceId, spanId: ctx?.spanId ?? rootSpanIdOf(otelTraceId) };
  const span = startSpan(service, subject, {
    kind,
    parent,
    attributes: messageAttributes(subject, 'send', ctx),
  });
  return { span, ctx: ctx?.traceId ? ctx : { ...ctx, traceId } };
}

/** The span of a handler, under the sender's span (or the trace's root when the sender named none). */
export function startHandlerSpan(
  service: string,
  subject: string,
  kind: SpanKind.SERVER | SpanKind.CONSUMER,
  ctx: TMessageContext,
): Span {
  const otelTraceId = toOtelTraceId(ctx.traceId);
  return startSpan(service, subject, {
    kind,
    parent: { traceId: otelTraceId, spanId: ctx.spanId ?? rootSpanIdOf(otelTraceId) },
    attributes: messageAttributes(subject, 'process', ctx),
  });
}
