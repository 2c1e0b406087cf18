import type { ServerResponse } from 'node:http';
import { APP_ERROR_STATUS, type AppError } from '@otesse/contracts';
import { toTrpcError } from '../trpc/app-error-to-trpc';
import { retryAfterOf } from './rate-limiter';
import { isRestResponse, sendRestError } from './rest-errors';

/**
 * A typed JSON error for the plain HTTP routes: under `/v1` the REST API's one shape (`ZRestError`, whichever layer
 * refuses: the export route, the body limit, the catch-all), elsewhere (OAuth, webhooks) `{ error: { code, message,
 * reason?, details? } }`, the NATS error reply's shape. 401 says how to authenticate, 429 when to retry.
 */
export function sendAppError(
  res: ServerResponse,
  err: AppError,
  opts: { status?: number; headers?: Record<string, string> } = {},
): void {
  if (isRestResponse(res)) {
    sendRestError(res, toTrpcError(err), {
      status: opts.status ?? APP_ERROR_STATUS[err.code],
      ...(opts.headers ? { headers: opts.headers } : {}),
    });
    return;
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    ...opts.headers,
  };
  if (err.code === 'UNAUTHORIZED') headers['www-authenticate'] = 'Bearer';
  const retryAfter = retryAfterOf(err);
  if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
  res
    .writeHead(opts.status ?? APP_ERROR_STATUS[err.code], headers)
    .end(JSON.stringify(err.toReply()));
}
