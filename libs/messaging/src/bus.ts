import { ErrorCode, type NatsConnection, type NatsError } from 'nats';
import {
  AppError,
  HEADERS,
  requestContracts,
  ZErrorReply,
  zodIssues,
  type TReplyOf,
  type TRequestInput,
  type TRequestSubject,
} from '@otesse/contracts';
import {
  endSpan,
  ensureTracing,
  SpanKind,
  tracingEnabled,
  type Span,
  type THistogramChild,
} from '@otesse/telemetry';
import { decodeJson, encodeJson } from './codec';
import { contextToHeaders, type TMessageContext } from './context';
import { clientNameOf, natsRequestDuration, startSendSpan } from './messaging-telemetry';

export interface TRequestOptions {
  timeoutMs?: number;
  ctx?: Partial<TMessageContext>;
}

/**
 * Typed request/reply over NATS: validates the request before it leaves and the reply when it comes back,
 * and turns every failure into an AppError (typed error replies, TIMEOUT, UNAVAILABLE for "no responders").
 */
export class Bus {
  /** The sender in metrics and spans: the connection's client name. */
  private readonly service: string;
  /** The `ok` latency child per subject: the common case skips building the label key. */
  private readonly okLatency = new Map<string, THistogramChild>();

  constructor(
    readonly nc: NatsConnection,
    private readonly defaults: { timeoutMs: number } = { timeoutMs: 5_000 },
  ) {
    ensureTracing();
    this.service = clientNameOf(nc);
  }

  async request<S extends TRequestSubject>(
    subject: S,
    payload: TRequestInput<S>,
    opts: TRequestOptions = {},
  ): Promise<TReplyOf<S>> {
    const started = performance.now();
    let span: Span | undefined;
    try {
      const contract = requestContracts[subject];
      const parsed = contract.request.safeParse(payload);
      if (!parsed.success) {
        throw new AppError('BAD_REQUEST', `invalid ${subject} request`, {
          details: zodIssues(parsed.error),
        });
      }
      let headers;
      if (tracingEnabled()) {
        const sent = startSendSpan(this.service, subject, SpanKind.CLIENT, opts.ctx);
        span = sent.span;
        headers = contextToHeaders(sent.ctx, span.spanContext().spanId);
      } else {
        headers = contextToHeaders(opts.ctx);
      }
      let msg;
      try {
        msg = await this.nc.request(subject, encodeJson(parsed.data), {
          timeout: opts.timeoutMs ?? this.defaults.timeoutMs,
          headers,
        });
      } catch (e) {
        throw toTransportError(subject, e);
      }
      const body = decodeJson(msg.data);
      if (msg.headers?.get(HEADERS.serviceErrorCode)) {
        const err = body.ok ? ZErrorReply.safeParse(body.value) : undefined;
        if (err?.success) throw AppError.fromReply(err.data);
        throw new AppError(
          'INTERNAL',
          `${subject}: ${msg.headers.get(HEADERS.serviceError) || 'error reply'}`,
        );
      }
      if (!body.ok) throw new AppError('INTERNAL', `${subject}: reply is not JSON`);
      const reply = contract.reply.safeParse(body.value);
      if (!reply.success) {
        throw new AppError('INTERNAL', `${subject}: reply does not match its contract`, {
          details: zodIssues(reply.error),
        });
      }
      let ok = this.okLatency.get(subject);
      if (!ok) {
        ok = natsRequestDuration.labels(this.service, subject, 'ok');
        this.okLatency.set(subject, ok);
      }
      ok.observe((performance.now() - started) / 1_000);
      if (span) endSpan(span, 'ok');
      return reply.data as TReplyOf<S>;
    } catch (e) {
      const code = e instanceof AppError ? e.code : 'INTERNAL';
      natsRequestDuration
        .labels(this.service, subject, code)
        .observe((performance.now() - started) / 1_000);
      if (span) endSpan(span, code, e instanceof AppError ? e.reason : undefined);
      throw e;
    }
  }
}

function toTransportError(subject: string, e: unknown): AppError {
  const code = (e as NatsError).code;
  if (code === ErrorCode.NoResponders) {
    return new AppError('UNAVAILABLE', `no service answers ${subject}`, {
      reason: 'no_responders',
      cause: e,
    });
  }
  if (code === ErrorCode.Timeout) {
    return new AppError('TIMEOUT', `${subject} timed out`, { reason: 'timeout', cause: e });
  }
  return new AppError('UNAVAILABLE', `${subject}: ${(e as Error).message}`, {
    reason: 'transport',
    cause: e,
  });
}
