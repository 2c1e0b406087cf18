import { QueryClient } from '@tanstack/react-query';
import { TRPCClientError } from '@trpc/client';

/** Errors that asking again will not change: a query that polls stops on them. */
export const FINAL_ERRORS: ReadonlySet<string> = new Set([
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'BAD_REQUEST',
]);

const NO_RETRY = new Set([...FINAL_ERRORS, 'CONFLICT', 'TOO_MANY_REQUESTS']);

/**
 * Client errors are answers, not glitches: retrying them only delays the message the user needs. A rate limit is
 * not retried at once either (that only spends the budget again); a polling query asks at its own pace.
 */
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

/**
 * A failed call in words. Bad input is said field by field from the edge's `zodIssues` (tRPC's own message for it
 * is the validator's JSON, which nobody should have to read).
 */
export function errorMessage(error: unknown): string {
  const issues = zodIssuesOf(error);
  if (issues.length > 0)
    return issues
      .map((i) => (i.path.length > 0 ? `${fieldName(i.path)}: ${i.message}` : i.message))
      .join('; ');
  if (error instanceof Error && error.message) return error.message;
  return 'Something went wrong. Please try again.';
}

/** The edge's field-by-field reasons for refusing input (BAD_REQUEST), if it gave them. */
export function zodIssuesOf(error: unknown): { path: (string | number)[]; message: string }[] {
  if (!(error instanceof TRPCClientError)) return [];
  const data: unknown = error.data;
  if (!data || typeof data !== 'object' || !('zodIssues' in data) || !Array.isArray(data.zodIssues))
    return [];
  return (data.zodIssues as unknown[]).flatMap((i) =>
    i &&
    typeof i === 'object' &&
    'message' in i &&
    typeof i.message === 'string' &&
    'path' in i &&
    Array.isArray(i.path)
      ? [{ path: i.path as (string | number)[], message: i.message }]
      : [],
  );
}

/** `senders.1.email` as a person reads it: "senders 2 email". */
function fieldName(path: (string | number)[]): string {
  return path.map((p) => (typeof p === 'number' ? String(p + 1) : p)).join(' ');
}
