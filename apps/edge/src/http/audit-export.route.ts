import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import type { ZodOpenApiPathItemObject } from 'zod-openapi';
import {
  AppError,
  AUDIT_LIST_MAX_LIMIT,
  ZAuditEntry,
  ZAuditFilters,
  type TAppErrorCode,
  type TAuditEntry,
  type TReplyOf,
} from '@otesse/contracts';
import type { TPermission } from '@otesse/identity';
import { newTraceId } from '@otesse/messaging';
import { authenticateCaller, bearerOf, chargeToken, clientIp } from '../trpc/context';
import type { THttpRoute } from './http-route';
import { sendAppError } from './http-errors';
import { REST_PREFIX, restErrorResponses, sendRestError, ZRestError } from './rest-errors';
import { asAppError } from '../trpc/app-error-to-trpc';

export const AUDIT_EXPORT_PATH = '/v1/audit/export';
const EXPORT_PERMISSIONS: TPermission[] = ['settings.view', 'settings.edit'];
const PAGE_TIMEOUT_MS = 30_000;

const ZExportQuery = ZAuditFilters.extend({
  format: z
    .enum(['ndjson', 'csv'])
    .default('ndjson')
    .describe('ndjson: one audit entry (JSON) per line; csv: a header row, then one row per entry'),
});

/** CSV columns, in order: the whole entry (targets and details as JSON). */
export const AUDIT_CSV_COLUMNS = [
  'seq',
  'id',
  'eventId',
  'occurredAt',
  'recordedAt',
  'orgId',
  'actorUserId',
  'onBehalfOfUserId',
  'action',
  'provider',
  'outcome',
  'targets',
  'details',
  'ip',
  'traceId',
  'hash',
  'prevHash',
] as const satisfies readonly (keyof TAuditEntry)[];

/**
 * RFC 4180 field: quoted when it holds a comma, a quote, CR or LF (quotes doubled). A text starting with
 * = + - @ tab or CR gets a leading ' so a spreadsheet never runs it as a formula (only free text such as an IP
 * or a trace id can start so; NDJSON is the lossless format).
 */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  let s = typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function csvRow(values: readonly unknown[]): string {
  return `${values.map(csvField).join(',')}\r\n`;
}

/** The export's errors (its statuses are the internal codes': TIMEOUT is 504 here, 408 on the procedures). */
const EXPORT_ERRORS = restErrorResponses({
  403: 'The caller has neither settings.view nor settings.edit',
  405: 'A method other than GET or HEAD (the `Allow` header lists them)',
  503: 'The audit service (or the database) is out of reach (`data.reason` no_responders…): retry',
  504: 'The audit service did not answer a page in time (`data.appCode` TIMEOUT): retry',
});
delete EXPORT_ERRORS[408];

/** `/v1/audit/export` in the OpenAPI document: a streaming route, not a procedure, so described here. */
export const auditExportOpenApi: Record<string, ZodOpenApiPathItemObject> = {
  [AUDIT_EXPORT_PATH.slice(REST_PREFIX.length)]: {
    get: {
      operationId: 'audit-export',
      summary: "The org's whole audit log as a download (no row cap)",
      description:
        "Every entry of the caller's organization matching the filters, newest first, streamed as the client reads " +
        'it. Entries recorded during the export are not part of it. A failure after the first byte cuts the ' +
        'transfer (never a silently short file). `HEAD` answers the same status and headers without the body.',
      security: [{ bearer: [] }],
      requestParams: { query: ZExportQuery },
      responses: {
        200: {
          description:
            'The entries, as an attachment (`Content-Disposition`); `X-Trace-Id` names the export',
          content: {
            'application/x-ndjson': {
              schema: ZAuditEntry.describe('one per line'),
            },
            'text/csv': {
              schema: z
                .string()
                .describe(
                  `columns ${AUDIT_CSV_COLUMNS.join(', ')}; targets and details as JSON (RFC 4180)`,
                ),
            },
          },
        },
        ...Object.fromEntries(
          Object.entries(EXPORT_ERRORS).map(([status, description]) => [
            status,
            { description, content: { 'application/json': { schema: ZRestError } } },
          ]),
        ),
      },
    },
  },
};

function sendError(
  res: ServerResponse,
  code: TAppErrorCode,
  message: string,
  opts: { details?: unknown; status?: number; headers?: Record<string, string> } = {},
): void {
  sendAppError(res, new AppError(code, message, { details: opts.details }), {
    ...(opts.status === undefined ? {} : { status: opts.status }),
    ...(opts.headers === undefined ? {} : { headers: opts.headers }),
  });
}

/** Resolves when the client has taken the buffered bytes, or has gone away. */
async function drained(res: ServerResponse): Promise<void> {
  if (res.destroyed) return;
  await Promise.race([once(res, 'drain'), once(res, 'close')]);
}

/**
 * `GET /v1/audit/export?format=ndjson|csv&action=&provider=&actorUserId=&from=&to=` with `Authorization: Bearer`.
 * Streams every matching entry of the caller's org, newest first, with no row cap: pages of 1,000 fetched from
 * the audit service by keyset cursor (the next page is requested while the current one drains) and written as
 * the client reads them (waits for 'drain'), so memory stays at about two pages. Entries appended during the
 * export are newer than its first page and are not part of it. A failure after the first byte aborts the
 * response (the client sees a truncated transfer, never a silently short file).
 */
export const auditExportRoute: THttpRoute = async (req, res, deps) => {
  const url = new URL(req.url ?? '/', 'http://edge.invalid');
  if (url.pathname !== AUDIT_EXPORT_PATH) return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendRestError(res, new TRPCError({ code: 'METHOD_NOT_SUPPORTED', message: 'use GET' }), {
      headers: { allow: 'GET, HEAD' },
    });
    return true;
  }
  let identity;
  try {
    identity = await authenticateCaller(
      deps,
      bearerOf(req),
      clientIp(req, deps.limits.trustedProxyHops),
    );
    chargeToken(deps, identity);
  } catch (e) {
    if (e instanceof AppError) {
      sendAppError(res, e);
      return true;
    }
    throw e;
  }
  if (!EXPORT_PERMISSIONS.some((p) => identity.permissions.includes(p))) {
    sendError(res, 'FORBIDDEN', `needs ${EXPORT_PERMISSIONS.join(' or ')}`);
    return true;
  }
  const raw: Record<string, string> = {};
  for (const [k, v] of url.searchParams) {
    if (k in raw) {
      sendError(res, 'BAD_REQUEST', `query parameter ${k} given twice`);
      return true;
    }
    raw[k] = v;
  }
  const parsed = ZExportQuery.safeParse(raw);
  if (!parsed.success) {
    // As a procedure's bad input is answered: `issues`, `data.zodIssues`.
    sendRestError(
      res,
      new TRPCError({ code: 'BAD_REQUEST', message: 'invalid export query', cause: parsed.error }),
    );
    return true;
  }
  const { format, ...filters } = parsed.data;
  const incomingTrace = req.headers['x-trace-id'];
  const traceId =
    typeof incomingTrace === 'string' && /^[A-Za-z0-9-]{8,64}$/.test(incomingTrace)
      ? incomingTrace
      : newTraceId();
  const fetchPage = (cursor: string | null): Promise<TReplyOf<'audit.entries.list'>> =>
    deps.bus.request(
      'audit.entries.list',
      { orgId: identity.orgId, filters, cursor, limit: AUDIT_LIST_MAX_LIMIT },
      {
        timeoutMs: PAGE_TIMEOUT_MS,
        ctx: { traceId, actorUserId: identity.userId, orgId: identity.orgId },
      },
    );

  // The first page before the status line: if the audit service is away, the client gets a real error.
  let page: TReplyOf<'audit.entries.list'>;
  try {
    page = await fetchPage(null);
  } catch (e) {
    const err = asAppError(e) ?? new AppError('INTERNAL', 'internal error');
    if (err.code === 'INTERNAL') {
      deps.logger.error({ err: e, traceId }, 'audit export failed');
      sendError(res, 'INTERNAL', 'internal error');
    } else sendAppError(res, err); // its reason kept (no_responders, database_unavailable…)
    return true;
  }
  const stamp = new Date().toISOString().replace(/[-:]|\.\d+/g, '');
  res.writeHead(200, {
    'content-type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson',
    'content-disposition': `attachment; filename="audit-${identity.orgId}-${stamp}.${format}"`,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-trace-id': traceId,
  });
  if (req.method === 'HEAD') {
    res.end();
    return true;
  }
  const line =
    format === 'csv'
      ? (e: TAuditEntry) => csvRow(AUDIT_CSV_COLUMNS.map((c) => e[c]))
      : (e: TAuditEntry) => `${JSON.stringify(e)}\n`;
  let rows = 0;
  try {
    if (format === 'csv') res.write(csvRow(AUDIT_CSV_COLUMNS));
    for (;;) {
      const next = page.nextCursor === null ? undefined : fetchPage(page.nextCursor);
      // A prefetch the client no longer waits for must not surface as an unhandled rejection.
      next?.catch(() => undefined);
      if (page.entries.length > 0 && !res.write(page.entries.map(line).join(''))) {
        await drained(res);
      }
      rows += page.entries.length;
      if (!next || res.destroyed) break;
      page = await next;
    }
    if (!res.destroyed) res.end();
    deps.logger.debug({ traceId, rows, format, aborted: res.destroyed }, 'audit export done');
  } catch (e) {
    deps.logger.error({ err: e, traceId, rows }, 'audit export aborted mid-stream');
    res.destroy(e instanceof Error ? e : undefined);
  }
  return true;
};
