import type { ServerResponse } from 'node:http';
import type { TRPCError } from '@trpc/server';
import { z, ZodError } from 'zod';
import { errorShapeOf } from '../trpc/response-meta';
import { retryAfterOf } from './rate-limiter';

export const REST_PREFIX = '/v1';

/** Whether a response answers a `/v1` REST request (its errors then take `ZRestError`'s shape). */
export function isRestResponse(res: ServerResponse): boolean {
  return res.req?.url?.startsWith(`${REST_PREFIX}/`) === true;
}

const ZIssue = z.looseObject({
  path: z.array(z.union([z.string(), z.number()])),
  message: z.string(),
  code: z.string(),
});

/**
 * The body of every `/v1` error: what trpc-to-openapi answers for a procedure's failure (the edge's error formatter's
 * `data` included), and what `/v1/audit/export` and the edge's own refusals (413) answer the same way.
 */
export const ZRestError = z
  .object({
    message: z.string(),
    code: z.string().describe("tRPC's error code: BAD_REQUEST, CONFLICT, SERVICE_UNAVAILABLE…"),
    data: z.object({
      code: z.string(),
      httpStatus: z.number().int().describe('the response status'),
      path: z.string().optional().describe('the procedure that answered (not for /audit/export)'),
      zodIssues: z
        .array(ZIssue)
        .nullable()
        .describe('bad input: each parameter refused and why; null otherwise'),
      appCode: z
        .string()
        .nullable()
        .describe('the internal error code (UNAVAILABLE, TIMEOUT, CONFLICT…)'),
      reason: z
        .string()
        .nullable()
        .describe(
          'machine-readable sub-reason: already_connected, database_unavailable, rate_limited…',
        ),
      retryAfterSec: z
        .number()
        .int()
        .nullable()
        .describe('429: seconds until a retry is let in (also the Retry-After header)'),
    }),
    issues: z.array(ZIssue).optional().describe('bad input: the validation issues'),
  })
  .meta({ id: 'Error', description: 'Every /v1 error response has this body' });
export type TRestError = z.infer<typeof ZRestError>;

/** Errors every authenticated `/v1` procedure may answer (OpenAPI `errorResponses`: status → when). */
export const REST_COMMON_ERRORS: Record<number, string> = {
  400: 'Invalid input: `issues` (and `data.zodIssues`) name each parameter refused and why',
  401: 'No bearer token, or an unknown or revoked one',
  408: 'A backend service did not answer in time (`data.appCode` TIMEOUT): retry',
  413: 'A request body larger than the edge accepts (`data.reason` body_too_large)',
  429:
    'Too many calls with this token, or too many failed token checks from this address (`data.reason` ' +
    'rate_limited): retry after `Retry-After` seconds',
  500: 'An unexpected failure; its message says nothing more (the edge logs it)',
  503:
    'The database or a backend service is out of reach (`data.reason` database_unavailable, no_responders…): ' +
    'retry; nothing was changed',
};

/** The common errors and a procedure's own (its own descriptions win). */
export function restErrorResponses(own: Record<number, string> = {}): Record<number, string> {
  return { ...REST_COMMON_ERRORS, ...own };
}

/**
 * The `ZRestError` body of a failure, exactly as trpc-to-openapi builds it for a procedure: the edge's error
 * formatter's shape, tRPC's code, and for bad input the generic message with the zod issues. `status` when the
 * route answers another status than tRPC's for the code (the export's 504 for TIMEOUT).
 */
export function restErrorBody(error: TRPCError, status?: number): TRestError {
  const shape = errorShapeOf(error);
  const validation = error.code === 'BAD_REQUEST' && error.cause instanceof ZodError;
  return {
    ...shape,
    message: validation ? 'Input validation failed' : shape.message,
    code: error.code,
    data: { ...shape.data, httpStatus: status ?? shape.data.httpStatus },
    ...(validation && error.cause instanceof ZodError ? { issues: error.cause.issues } : {}),
  } as TRestError;
}

/** Answers a `/v1` request's failure with the `ZRestError` body; 401 says how to authenticate, 429 when to retry. */
export function sendRestError(
  res: ServerResponse,
  error: TRPCError,
  opts: { status?: number; headers?: Record<string, string> } = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = restErrorBody(error, opts.status);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    ...opts.headers,
  };
  if (error.code === 'UNAUTHORIZED') headers['www-authenticate'] = 'Bearer';
  const retryAfter = retryAfterOf(error.cause);
  if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
  res.writeHead(body.data.httpStatus, headers).end(JSON.stringify(body));
}
