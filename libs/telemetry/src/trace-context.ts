import { createHash } from 'node:crypto';

/** The W3C Trace Context header every NATS request and event carries next to Otesse's own trace id header. */
export const TRACEPARENT_HEADER = 'traceparent';

const HEX32 = /^[0-9a-f]{32}$/;
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

export interface TTraceParent {
  traceId: string;
  /** The sender's span: the parent of whatever the receiver records. */
  spanId: string;
  sampled: boolean;
}

/**
 * The OpenTelemetry trace id for an Otesse trace id. `newTraceId()` already makes 32 lowercase hex digits, used
 * as is; anything else a client sent (`x-trace-id`: a UUID, an arbitrary token) maps to a stable id, so every
 * process that sees the same Otesse id lands in the same OTel trace.
 */
export function toOtelTraceId(id: string): string {
  if (HEX32.test(id) && id !== ZERO_TRACE) return id;
  const compact = id.replaceAll('-', '').toLowerCase();
  if (HEX32.test(compact) && compact !== ZERO_TRACE) return compact;
  return createHash('sha256').update(id).digest('hex').slice(0, 32);
}

/**
 * The span id that stands for "the trace itself": the parent of a message sent with a trace id but no span (a
 * saga step's command, a request from code that only forwards `traceId`), and the id the saga's own span takes,
 * so those commands hang under their saga in every process without anyone passing span ids around.
 */
export function rootSpanIdOf(otelTraceId: string): string {
  const low = otelTraceId.slice(16);
  return low === ZERO_SPAN ? otelTraceId.slice(0, 16) : low;
}

export function formatTraceparent(traceId: string, spanId: string, sampled = true): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}

/** `undefined` for anything that is not a valid version-00-compatible traceparent. */
export function parseTraceparent(value: string | undefined): TTraceParent | undefined {
  if (!value) return undefined;
  const m = TRACEPARENT.exec(value.trim());
  if (!m || m[1] === 'ff') return undefined;
  const traceId = m[2] as string;
  const spanId = m[3] as string;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  // Version 00 has exactly four fields; a later version may append more (kept forward compatible).
  if (m[1] === '00' && value.trim().length !== 55) return undefined;
  return { traceId, spanId, sampled: (parseInt(m[4] as string, 16) & 1) === 1 };
}
