import { dataPage } from './data-records.generator.js';
import { DATA_RESOURCES, type TDataCallRecord, type TDataResource } from './fake-provider.types.js';
import { HttpError, oauthError, sendJson, sendRedirect } from './http.util.js';
import {
  authenticateBearer,
  instanceField,
  nowIso,
  type TRequestContext,
} from './request-context.js';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

const isResource = (value: string): value is TDataResource =>
  (DATA_RESOURCES as readonly string[]).includes(value);

// Opaque-looking cursor so clients don't build offsets themselves.
export const encodeCursor = (offset: number): string =>
  Buffer.from(`o:${offset}`).toString('base64url');

function decodeCursor(cursor: string): number {
  const match = /^o:(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match?.[1]) throw oauthError(400, 'invalid_request', 'invalid cursor');
  return Number(match[1]);
}

function parseLimit(raw: string | null): number {
  if (raw === null || raw === '') return DEFAULT_LIMIT;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw oauthError(400, 'invalid_request', 'limit must be >= 1');
  return Math.min(n, MAX_LIMIT);
}

/** GET /api/health: cheap token check used by the product's health checks. */
export function handleHealth(ctx: TRequestContext): void {
  ctx.state.dataCallCounts.health += 1;
  authenticateBearer(ctx, { dataApi: true });
  sendJson(ctx.res, 200, { ok: true });
}

/** GET /api/:resource?cursor=&limit=: paged, deterministic per-tenant records. */
export async function handleDataList(ctx: TRequestContext, resource: string): Promise<void> {
  const { state, url } = ctx;
  if (!isResource(resource)) {
    throw new HttpError(404, {
      error: 'not_found',
      error_description: `unknown resource ${resource}`,
    });
  }
  const cursor = url.searchParams.get('cursor');
  const rawLimit = url.searchParams.get('limit');
  const record: TDataCallRecord = {
    at: nowIso(),
    resource,
    ...instanceField(ctx.instance),
    status: 0,
    cursor: cursor || null,
    limit: rawLimit === null ? null : Number(rawLimit),
  };
  state.dataCalls.push(record);
  state.dataCallCounts[resource] += 1;
  if (state.config.dataApiRedirectTo !== null) {
    record.status = 302;
    sendRedirect(ctx.res, state.config.dataApiRedirectTo);
    return;
  }
  try {
    const token = authenticateBearer(ctx, { dataApi: true });
    record.userId = token.userId;
    const limit = parseLimit(rawLimit);
    const offset = cursor ? decodeCursor(cursor) : 0;
    await ctx.runtime.delay(state.config.pageDelayMs);
    const page = dataPage(
      token.tenantId,
      resource,
      state.config.dataCounts[resource],
      offset,
      limit,
    );
    record.status = 200;
    record.itemCount = page.items.length;
    sendJson(ctx.res, 200, {
      items: page.items,
      nextCursor: page.nextOffset === null ? null : encodeCursor(page.nextOffset),
    });
  } catch (err) {
    if (err instanceof HttpError) record.status = err.status;
    throw err;
  }
}
