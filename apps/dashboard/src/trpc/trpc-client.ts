import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink } from '@trpc/client';
import { EventSource } from 'eventsource';
import type { AppRouter } from '@otesse/edge-api';
import { readToken } from '../session/token-storage';

export const EDGE_URL = __EDGE_URL__.replace(/\/$/, '');

/** The bearer header of the signed-in user, read at each request (signing out takes effect at once). */
function authorization(): Record<string, string> {
  const token = readToken();
  return token ? { authorization: `Bearer ${token}` } : {};
}

/**
 * Queries and mutations go batched over HTTP with the bearer token; subscriptions go over SSE through an
 * EventSource built on fetch, so they send the same header. The browser's own EventSource cannot set headers
 * and would carry the token in the URL, where proxies' access logs keep it.
 */
export function createEdgeClient() {
  const url = `${EDGE_URL}/trpc`;
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url,
          EventSource,
          eventSourceOptions: () => ({
            fetch: (input, init) =>
              fetch(input, { ...init, headers: { ...init.headers, ...authorization() } }),
          }),
        }),
        false: httpBatchLink({ url, headers: authorization }),
      }),
    ],
  });
}

export type TEdgeClient = ReturnType<typeof createEdgeClient>;
