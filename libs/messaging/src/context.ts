import { randomUUID } from 'node:crypto';
import { headers as natsHeaders, type MsgHdrs } from 'nats';
import { HEADERS } from '@otesse/contracts';
import {
  formatTraceparent,
  parseTraceparent,
  toOtelTraceId,
  TRACEPARENT_HEADER,
} from '@otesse/telemetry';

/** What travels with every request and event besides its payload. */
export interface TMessageContext {
  traceId: string;
  /**
   * The span this message belongs to (W3C `traceparent`'s parent id). In a handler: its own span while tracing
   * is on, else the sender's; forwarding `ctx` keeps nested requests in the same place of the trace.
   */
  spanId?: string | undefined;
  actorUserId?: string | undefined;
  orgId?: string | undefined;
  idempotencyKey?: string | undefined;
}

/** 32 lowercase hex digits: also a valid OpenTelemetry trace id, so both ids are one. */
export function newTraceId(): string {
  return randomUUID().replaceAll('-', '');
}

/**
 * Headers for a message. `Otesse-Trace-Id` as always (older receivers read only it); `traceparent` when there is
 * a parent span to name: `parentSpanId` (the sender's client span) or the context's own span.
 */
export function contextToHeaders(
  ctx: Partial<TMessageContext> | undefined,
  parentSpanId?: string,
): MsgHdrs {
  // `append` on fresh headers: `set` would first search for (and delete) a key that cannot be there yet.
  const h = natsHeaders();
  const traceId = ctx?.traceId ?? newTraceId();
  h.append(HEADERS.traceId, traceId);
  const spanId = parentSpanId ?? ctx?.spanId;
  if (spanId) h.append(TRACEPARENT_HEADER, formatTraceparent(toOtelTraceId(traceId), spanId));
  if (ctx?.actorUserId) h.append(HEADERS.actorUserId, ctx.actorUserId);
  if (ctx?.orgId) h.append(HEADERS.orgId, ctx.orgId);
  if (ctx?.idempotencyKey) h.append(HEADERS.idempotencyKey, ctx.idempotencyKey);
  return h;
}

/** One pass over the headers (nats.js' `get` copies and filters every key on each call: hot path). */
export function contextFromHeaders(h: MsgHdrs | undefined): TMessageContext {
  let own: string | undefined;
  let traceparent: string | undefined;
  let actorUserId: string | undefined;
  let orgId: string | undefined;
  let idempotencyKey: string | undefined;
  if (h) {
    for (const [k, values] of h) {
      const v = values[0] || undefined;
      switch (k) {
        case HEADERS.traceId:
          own = v;
          break;
        case TRACEPARENT_HEADER:
        case 'Traceparent': // Go clients send canonical MIME keys
          traceparent = v;
          break;
        case HEADERS.actorUserId:
          actorUserId = v;
          break;
        case HEADERS.orgId:
          orgId = v;
          break;
        case HEADERS.idempotencyKey:
          idempotencyKey = v;
          break;
      }
    }
  }
  const parent = parseTraceparent(traceparent);
  // A W3C-only sender (another team's OTel-instrumented service) still lands in its own trace.
  const traceId = own ?? parent?.traceId ?? newTraceId();
  return {
    traceId,
    // A traceparent of another trace than the Otesse id says is stale: the Otesse id wins, parent unknown.
    spanId: parent && parent.traceId === toOtelTraceId(traceId) ? parent.spanId : undefined,
    actorUserId,
    orgId,
    idempotencyKey,
  };
}
