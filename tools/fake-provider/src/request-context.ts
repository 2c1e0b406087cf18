import type { IncomingMessage, ServerResponse } from 'node:http';

import type { FakeProviderState, TTokenRecord } from './fake-provider.state.js';
import { HttpError, readBearer } from './http.util.js';
import type { ServerRuntime } from './server-runtime.js';

export interface TRequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** Path with any `/i/:instance` prefix removed. */
  path: string;
  /** Set when the request came in under `/i/:instance/...`. */
  instance: string | undefined;
  state: FakeProviderState;
  runtime: ServerRuntime;
}

export const nowIso = (): string => new Date().toISOString();

/** `{ instance }` when set, else nothing: keeps optional fields absent rather than undefined. */
export function instanceField(instance: string | undefined): { instance?: string } {
  return instance !== undefined ? { instance } : {};
}

/** Where this instance's endpoints live, e.g. http://127.0.0.1:4010/i/acme. */
export function instanceBaseUrl(ctx: TRequestContext): string {
  return ctx.instance === undefined
    ? ctx.runtime.baseUrl
    : `${ctx.runtime.baseUrl}/i/${encodeURIComponent(ctx.instance)}`;
}

const invalidToken = (description: string): HttpError =>
  new HttpError(
    401,
    { error: 'invalid_token', error_description: description },
    { 'www-authenticate': `Bearer error="invalid_token", error_description="${description}"` },
  );

/**
 * Resolves the Bearer access token; tokens only work under the instance that issued them. `dataApi`: a data API
 * call, refused whatever the token under `dataApiMode: 'unauthorized'`.
 */
export function authenticateBearer(
  ctx: TRequestContext,
  opts: { dataApi?: boolean } = {},
): TTokenRecord {
  const token = readBearer(ctx.req);
  if (!token) throw invalidToken('missing bearer token');
  const rec = ctx.state.tokens.get(token);
  if (!rec || rec.type !== 'access' || rec.instance !== ctx.instance) {
    throw invalidToken('unknown token');
  }
  const status = ctx.state.tokenStatusOf(rec);
  if (status !== 'active') throw invalidToken(`token ${status}`);
  if (opts.dataApi && ctx.state.config.dataApiMode === 'unauthorized') {
    throw invalidToken('token not allowed here');
  }
  return rec;
}
