import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink } from '@trpc/client';
import type { AppRouter } from '@otesse/edge-api';
import { readToken } from '../session/token-storage';

export const EDGE_URL = __EDGE_URL__.replace(/\/$/, '');

/**
 * Queries and mutations go batched over HTTP with the bearer token; subscriptions go over SSE, where headers
 * cannot be set, so the token travels as a connection parameter instead.
 */
export function createEdgeClient() {
  const url = `${EDGE_URL}/trpc`;
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url,
          connectionParams: () => {
            const token = readToken();
            return token ? { token } : null;
          },
        }),
        false: httpBatchLink({
          url,
          headers: () => {
            const token = readToken();
            return token ? { authorization: `Bearer ${token}` } : {};
          },
        }),
      }),
    ],
  });
}

export type TEdgeClient = ReturnType<typeof createEdgeClient>;
