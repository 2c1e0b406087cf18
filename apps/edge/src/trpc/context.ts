import type { IncomingMessage } from 'node:http';
import type { MikroORM } from '@mikro-orm/postgresql';
import { AppError } from '@otesse/contracts';
import type { Logger } from '@otesse/logging';
import type { Bus, EventPublisher } from '@otesse/messaging';
import type { Catalogue } from '@otesse/providers';
import type { SagaEngine } from '@otesse/saga';
import { authenticate, type TIdentity, type TokenUseRecorder } from '@otesse/identity';
import { newTraceId } from '@otesse/messaging';
import type { TEdgeLimits } from '../http/edge-limits';
import { rateLimitedError } from '../http/rate-limiter';

/** What every procedure can reach: the edge's own services, never another service's code. */
export interface TEdgeDeps {
  orm: MikroORM;
  bus: Bus;
  events: EventPublisher;
  catalogue: Catalogue;
  logger: Logger;
  publicUrl: string;
  dashboardUrl: string;
  sagas: SagaEngine;
  /** Body size and rate limits (per client IP, per API token). */
  limits: TEdgeLimits;
  /** Writes verified tokens' `last_used_at`, at most once a minute each, off the request's path. */
  tokenUse: TokenUseRecorder;
}

export interface TContext {
  deps: TEdgeDeps;
  traceId: string;
  ip: string | null;
  /** Resolved lazily by the `authed` middleware, so public procedures cost no DB round trip. */
  bearer: string | undefined;
  identity?: TIdentity | undefined;
  /** One verification per HTTP request, shared by the calls of a batch (and counted once if it fails). */
  auth: { identity?: Promise<TIdentity> };
}

/**
 * The caller's address: the socket's, or with `trustedProxyHops` proxies in front, the X-Forwarded-For entry
 * that many hops from the right (entries further left are the client's own claims).
 */
export function clientIp(req: IncomingMessage, trustedProxyHops = 0): string | null {
  const socket = req.socket.remoteAddress ?? null;
  if (trustedProxyHops <= 0) return socket;
  const header = req.headers['x-forwarded-for'];
  const forwarded = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0 && s.length <= 64);
  const chain = [socket, ...forwarded.reverse()];
  return chain[Math.min(trustedProxyHops, chain.length - 1)] ?? socket;
}

/**
 * The bearer token of a request: `Authorization: Bearer …` only. Never from the URL (tRPC's SSE
 * `connectionParams`, a query string): URLs end up in proxies' access logs and browser histories. The dashboard's
 * subscriptions send the header through a fetch-based EventSource.
 */
export function bearerOf(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  return auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
}

export function createContextFactory(deps: TEdgeDeps) {
  return ({ req }: { req: IncomingMessage }): TContext => {
    const bearer = bearerOf(req);
    const incomingTrace = req.headers['x-trace-id'];
    return {
      deps,
      traceId:
        typeof incomingTrace === 'string' && /^[A-Za-z0-9-]{8,64}$/.test(incomingTrace)
          ? incomingTrace
          : newTraceId(),
      ip: clientIp(req, deps.limits.trustedProxyHops),
      bearer,
      auth: {},
    };
  };
}

/**
 * Verifies a bearer token under the edge's limits: failed verifications are charged to the client IP, and once an
 * address has used up its allowance a failed one is answered TOO_MANY_REQUESTS rather than UNAUTHORIZED (token
 * guessing). A token that verifies is never refused by that limit: many clients share an address (NAT, a proxy),
 * and one of them sending bad tokens must not lock the others out; so every presented token is looked up (one
 * indexed read), and with 256 random bits a guess cannot succeed anyway. A missing token is no guess and is not
 * counted. Each authenticated call is charged to its token. A verified token's `last_used_at` is written at most
 * once a minute, without the call waiting for it.
 */
export async function authenticateCaller(
  deps: Pick<TEdgeDeps, 'orm' | 'limits' | 'tokenUse'>,
  bearer: string | undefined,
  ip: string | null,
): Promise<TIdentity> {
  let identity: TIdentity;
  try {
    identity = await authenticate(deps.orm.em.getConnection().getKnex(), bearer);
  } catch (e) {
    const presented = bearer !== undefined && bearer !== '';
    if (presented && e instanceof AppError && e.code === 'UNAUTHORIZED') {
      const { authFailures } = deps.limits;
      const charged = authFailures.take(ip ?? 'unknown');
      if (!charged.ok) throw rateLimitedError(authFailures, charged.retryAfterSec);
    }
    throw e;
  }
  void deps.tokenUse.record(identity.tokenId);
  return identity;
}

/** Charges one call to the caller's token. */
export function chargeToken(deps: Pick<TEdgeDeps, 'limits'>, identity: TIdentity): void {
  const taken = deps.limits.perToken.take(identity.tokenId);
  if (!taken.ok) throw rateLimitedError(deps.limits.perToken, taken.retryAfterSec);
}

export async function resolveIdentity(ctx: TContext): Promise<TIdentity> {
  ctx.auth.identity ??= authenticateCaller(ctx.deps, ctx.bearer, ctx.ip);
  const identity = await ctx.auth.identity;
  chargeToken(ctx.deps, identity);
  return identity;
}
