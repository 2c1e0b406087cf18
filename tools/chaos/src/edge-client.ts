import { createTRPCClient, httpBatchLink, TRPCClientError } from '@trpc/client';
import type { AppRouter } from '@otesse/edge-api';

export type TEdgeClient = ReturnType<typeof createTRPCClient<AppRouter>>;

/** What a client saw of the edges: every retry here is a request that met an edge replica going away. */
export interface TEdgeTraffic {
  requests: number;
  /** Attempts repeated because the edge was unreachable or dropped the connection. */
  retries: number;
  /** Retries sent to another edge replica than the one that failed. */
  failovers: number;
  /** Requests that found no edge at all within the retry window (the client gave up). */
  gaveUp: number;
}

export const newTraffic = (): TEdgeTraffic => ({
  requests: 0,
  retries: 0,
  failovers: 0,
  gaveUp: 0,
});

/**
 * A transport failure: nothing (ECONNREFUSED) or no complete answer (reset, socket closed) came back from the edge,
 * i.e. the process is down, restarting or closing. Typed tRPC errors are answers, never this.
 */
export function isEdgeGone(e: unknown): boolean {
  return e instanceof TypeError && e.message === 'fetch failed';
}

export interface TFailoverOptions {
  /** Index of the replica this client sends to first. */
  preferred?: number;
  /** How long a request waits for some replica to answer before it fails. */
  retryForMs?: number;
  traffic?: TEdgeTraffic;
  log?: (line: string) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A `fetch` for a set of edge replicas, as a client behind a load balancer sees them: it sends to the preferred
 * replica, moves to the next one when a replica is unreachable (remembering that for a moment), and waits for
 * one to come back when none answers, for up to `retryForMs`. Only transport failures are retried: the edge's
 * procedures that the chaos clients repeat (disconnect.start joins the connection's saga, reads) are idempotent.
 */
export function failoverFetch(urls: readonly string[], opts: TFailoverOptions = {}): typeof fetch {
  const origins = urls.map((u) => new URL(u).origin);
  const downUntil = new Map<string, number>();
  const traffic = opts.traffic ?? newTraffic();
  let current = (opts.preferred ?? 0) % origins.length;
  return async (input, init) => {
    const target = new URL(input instanceof Request ? input.url : String(input));
    traffic.requests += 1;
    const deadline = Date.now() + (opts.retryForMs ?? 60_000);
    let lastOrigin: string | undefined;
    for (let attempt = 0; ; attempt += 1) {
      // The first replica not known to be down, starting from the one that last worked.
      const now = Date.now();
      let pick = current;
      for (let k = 0; k < origins.length; k += 1) {
        const i = (current + k) % origins.length;
        if ((downUntil.get(origins[i] ?? '') ?? 0) <= now) {
          pick = i;
          break;
        }
      }
      const origin = origins[pick] ?? '';
      if (attempt > 0) {
        traffic.retries += 1;
        if (origin !== lastOrigin) traffic.failovers += 1;
      }
      lastOrigin = origin;
      const url = new URL(target.pathname + target.search, origin);
      try {
        const res = await fetch(url, init);
        current = pick;
        return res;
      } catch (e) {
        if (!isEdgeGone(e)) throw e;
        downUntil.set(origin, Date.now() + 1_000);
        if (Date.now() > deadline) {
          traffic.gaveUp += 1;
          opts.log?.(`  ! no edge answered ${target.pathname} for ${opts.retryForMs ?? 60_000} ms`);
          throw e;
        }
        // Every replica failed in turn: give them a moment to come back.
        if (origins.every((o) => (downUntil.get(o) ?? 0) > Date.now()))
          await sleep(Math.min(1_000, 100 * 2 ** Math.min(attempt, 4)));
      }
    }
  };
}

/** A typed tRPC client for a user, over the given edge replicas (failover as in `failoverFetch`). */
export function edgeClient(
  urls: readonly string[],
  token: string,
  opts: TFailoverOptions = {},
): TEdgeClient {
  const f = failoverFetch(urls, opts);
  return createTRPCClient<AppRouter>({
    links: [
      httpBatchLink({
        url: `${urls[(opts.preferred ?? 0) % urls.length]}/trpc`,
        headers: { authorization: `Bearer ${token}` },
        // tRPC's own fetch type is looser than the platform's: the same call, typed for it.
        fetch: (input, init) => f(input as string, init as RequestInit),
      }),
    ],
  });
}

/** The tRPC code and reason of an error answer (undefined for anything else). */
export function trpcFailure(e: unknown): { code: string; reason: string | undefined } | undefined {
  if (!(e instanceof TRPCClientError)) return undefined;
  const data = (e.data ?? {}) as { code?: unknown; reason?: unknown; appCode?: unknown };
  return {
    code: typeof data.code === 'string' ? data.code : 'UNKNOWN',
    reason: typeof data.reason === 'string' ? data.reason : undefined,
  };
}
