import { randomUUID } from 'node:crypto';
import { headers as natsHeaders, type MsgHdrs } from 'nats';
import { HEADERS } from '@otesse/contracts';

/** What travels with every request and event besides its payload. */
export interface TMessageContext {
  traceId: string;
  actorUserId?: string | undefined;
  orgId?: string | undefined;
  idempotencyKey?: string | undefined;
}

export function newTraceId(): string {
  return randomUUID().replaceAll('-', '');
}

export function contextToHeaders(ctx: Partial<TMessageContext> | undefined): MsgHdrs {
  const h = natsHeaders();
  h.set(HEADERS.traceId, ctx?.traceId ?? newTraceId());
  if (ctx?.actorUserId) h.set(HEADERS.actorUserId, ctx.actorUserId);
  if (ctx?.orgId) h.set(HEADERS.orgId, ctx.orgId);
  if (ctx?.idempotencyKey) h.set(HEADERS.idempotencyKey, ctx.idempotencyKey);
  return h;
}

export function contextFromHeaders(h: MsgHdrs | undefined): TMessageContext {
  const get = (k: string): string | undefined => {
    const v = h?.get(k);
    return v === undefined || v === '' ? undefined : v;
  };
  return {
    traceId: get(HEADERS.traceId) ?? newTraceId(),
    actorUserId: get(HEADERS.actorUserId),
    orgId: get(HEADERS.orgId),
    idempotencyKey: get(HEADERS.idempotencyKey),
  };
}
