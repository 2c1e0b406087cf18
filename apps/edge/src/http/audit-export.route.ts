import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { z } from 'zod';
import {
  AppError,
  AUDIT_LIST_MAX_LIMIT,
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
import { asAppError } from '../trpc/app-error-to-trpc';

export const AUDIT_EXPORT_PATH = '/v1/audit/export';
const EXPORT_PERMISSIONS: TPermission[] = ['settings.view', 'settings.edit'];
const PAGE_TIMEOUT_MS = 30_000;

const ZExportQuery = ZAuditFilters.extend({ format: z.enum(['ndjson', 'csv']).default('ndjson') });

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
    sendError(res, 'BAD_REQUEST', 'use GET', { status: 405, headers: { allow: 'GET, HEAD' } });
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
    sendError(res, 'BAD_REQUEST', 'invalid export query', {
      details: parsed.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
    });
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
    if (err.code === 'INTERNAL') deps.logger.error({ err: e, traceId }, 'audit export failed');
    sendError(res, err.code, err.code === 'INTERNAL' ? 'internal error' : err.message);
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
