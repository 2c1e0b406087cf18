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
import { decodeJson, encodeJson } from './codec';
import { contextToHeaders, type TMessageContext } from './context';

export interface TRequestOptions {
  timeoutMs?: number;
  ctx?: Partial<TMessageContext>;
}

/**
 * Typed request/reply over NATS: validates the request before it leaves and the reply when it comes back,
 * and turns every failure into an AppError (typed error replies, TIMEOUT, UNAVAILABLE for "no responders").
 */
export class Bus {
  constructor(
    readonly nc: NatsConnection,
    private readonly defaults: { timeoutMs: number } = { timeoutMs: 5_000 },
  ) {}

  async request<S extends TRequestSubject>(
    subject: S,
    payload: TRequestInput<S>,
    opts: TRequestOptions = {},
  ): Promise<TReplyOf<S>> {
    const contract = requestContracts[subject];
    const parsed = contract.request.safeParse(payload);
    if (!parsed.success) {
      throw new AppError('BAD_REQUEST', `invalid ${subject} request`, {
        details: zodIssues(parsed.error),
      });
    }
    let msg;
    try {
      msg = await this.nc.request(subject, encodeJson(parsed.data), {
        timeout: opts.timeoutMs ?? this.defaults.timeoutMs,
        headers: contextToHeaders(opts.ctx),
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
    return reply.data as TReplyOf<S>;
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
