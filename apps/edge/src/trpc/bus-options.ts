import type { TIdentity } from '@otesse/identity';
import type { TRequestOptions } from '@otesse/messaging';
import type { TContext } from './context';

/**
 * The options of a NATS request a procedure sends for its caller: the trace, the acting user and their org travel as
 * headers, so the receiving service logs and audits the request as the caller's. `extra`: a timeout and the like.
 */
export function busOptions(
  ctx: Pick<TContext, 'traceId'> & { identity: Pick<TIdentity, 'userId' | 'orgId'> },
  extra: Omit<TRequestOptions, 'ctx'> = {},
): TRequestOptions & { ctx: { traceId: string; actorUserId: string; orgId: string } } {
  return {
    ...extra,
    ctx: { traceId: ctx.traceId, actorUserId: ctx.identity.userId, orgId: ctx.identity.orgId },
  };
}
