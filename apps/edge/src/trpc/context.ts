import type { IncomingMessage } from 'node:http';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from '@otesse/logging';
import type { Bus, EventPublisher } from '@otesse/messaging';
import type { Catalogue } from '@otesse/providers';
import type { SagaEngine } from '@otesse/saga';
import type { PendingTokens } from '../sagas/reconnect.saga';
import { authenticate, type TIdentity } from '@otesse/identity';
import { newTraceId } from '@otesse/messaging';

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
  pendingTokens: PendingTokens;
}

export interface TContext {
  deps: TEdgeDeps;
  traceId: string;
  ip: string | null;
  /** Resolved lazily by the `authed` middleware, so public procedures cost no DB round trip. */
  bearer: string | undefined;
  identity?: TIdentity | undefined;
}

export function clientIp(req: IncomingMessage): string | null {
  return req.socket.remoteAddress ?? null;
}

export function createContextFactory(deps: TEdgeDeps) {
  return ({
    req,
    info,
  }: {
    req: IncomingMessage;
    info?: { connectionParams: Record<string, string | undefined> | null };
  }): TContext => {
    const auth = req.headers.authorization;
    // SSE subscriptions cannot set headers: the token comes in tRPC's connectionParams instead.
    const fromParams = info?.connectionParams?.['token'];
    const bearer = auth?.startsWith('Bearer ')
      ? auth.slice(7).trim()
      : typeof fromParams === 'string'
        ? fromParams
        : undefined;
    const incomingTrace = req.headers['x-trace-id'];
    return {
      deps,
      traceId:
        typeof incomingTrace === 'string' && /^[A-Za-z0-9-]{8,64}$/.test(incomingTrace)
          ? incomingTrace
          : newTraceId(),
      ip: clientIp(req),
      bearer,
    };
  };
}

export async function resolveIdentity(ctx: TContext): Promise<TIdentity> {
  return authenticate(ctx.deps.orm.em.getConnection().getKnex(), ctx.bearer);
}
