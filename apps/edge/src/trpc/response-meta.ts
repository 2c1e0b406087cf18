import type { TRPCError } from '@trpc/server';
import { getErrorShape } from '@trpc/server/unstable-core-do-not-import';
import { retryAfterOf } from '../http/rate-limiter';
import { trpcConfig } from './trpc';

/**
 * Response headers from the calls' errors: a rate-limited call says when to retry (the longest wait of a
 * batch), an unauthenticated one how to authenticate.
 */
export function edgeResponseMeta(opts: { errors: TRPCError[] }): {
  headers?: Record<string, string>;
} {
  const headers: Record<string, string> = {};
  let retryAfter: number | undefined;
  for (const e of opts.errors) {
    const r = retryAfterOf(e.cause);
    if (r !== undefined) retryAfter = Math.max(retryAfter ?? 0, r);
    if (e.code === 'UNAUTHORIZED') headers['www-authenticate'] = 'Bearer';
  }
  if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
  return Object.keys(headers).length ? { headers } : {};
}

/** The error shape the edge's formatter gives `error` outside any procedure (tRPC's own answers and REST's). */
export function errorShapeOf(error: TRPCError) {
  return getErrorShape({
    config: trpcConfig,
    error,
    type: 'unknown',
    path: undefined,
    input: undefined,
    ctx: undefined,
  });
}

/** The JSON body tRPC itself would answer for `error` outside any procedure (same formatter, same fields). */
export function trpcErrorBody(error: TRPCError): string {
  return JSON.stringify({ error: errorShapeOf(error) });
}
