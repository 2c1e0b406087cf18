import type { ServerResponse } from 'node:http';
import { APP_ERROR_STATUS, type AppError } from '@otesse/contracts';
import { retryAfterOf } from './rate-limiter';

/**
 * A typed JSON error (`{ error: { code, message, reason?, details? } }`, the NATS error reply's shape) for the
 * plain HTTP routes: 401 says how to authenticate, 429 when to retry.
 */
export function sendAppError(
  res: ServerResponse,
  err: AppError,
  opts: { status?: number; headers?: Record<string, string> } = {},
): void {
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
