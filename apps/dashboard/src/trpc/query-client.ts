import { QueryClient } from '@tanstack/react-query';
import { TRPCClientError } from '@trpc/client';

const NO_RETRY = new Set(['UNAUTHORIZED', 'FORBIDDEN', 'NOT_FOUND', 'BAD_REQUEST', 'CONFLICT']);

/** Client errors are answers, not glitches: retrying them only delays the message the user needs. */
export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 5_000,
        refetchOnWindowFocus: false,
        retry: (failures, error) => !NO_RETRY.has(trpcCode(error) ?? '') && failures < 2,
      },
      mutations: { retry: false },
    },
  });
}

/** The tRPC error code (`UNAUTHORIZED`, `CONFLICT`…) of a failed call, if it was one. */
export function trpcCode(error: unknown): string | undefined {
  if (error instanceof TRPCClientError) {
    const data: unknown = error.data;
    if (data && typeof data === 'object' && 'code' in data && typeof data.code === 'string') {
      return data.code;
    }
  }
  return undefined;
}

/** The edge's typed reason (`connection_not_connected`…) of a failed call, if it gave one. */
export function trpcReason(error: unknown): string | undefined {
  if (error instanceof TRPCClientError) {
    const data: unknown = error.data;
    if (data && typeof data === 'object' && 'reason' in data && typeof data.reason === 'string') {
      return data.reason;
    }
  }
  return undefined;
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error && error.message) return error.message;
  return 'Something went wrong. Please try again.';
}
