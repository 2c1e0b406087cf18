import type { IncomingMessage, ServerResponse } from 'node:http';

const MAX_BODY_BYTES = 1_000_000;

/** Thrown by helpers to end a request with a JSON error; caught by the router. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof body['error'] === 'string' ? body['error'] : `HTTP ${status}`);
  }
}

export function oauthError(status: number, error: string, description?: string): HttpError {
  return new HttpError(status, {
    error,
    ...(description !== undefined ? { error_description: description } : {}),
  });
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(payload)),
    // Token responses must not be cached (RFC 6749 §5.1); harmless everywhere else.
    'cache-control': 'no-store',
    pragma: 'no-cache',
    ...headers,
  });
  res.end(payload);
}

export function sendRedirect(res: ServerResponse, location: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(302, { location, 'cache-control': 'no-store', 'content-length': '0' });
  res.end();
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw oauthError(413, 'invalid_request', 'body too large');
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function isJson(req: IncomingMessage): boolean {
  return (req.headers['content-type'] ?? '').toLowerCase().includes('json');
}

/** Form (default) or JSON body flattened to string params, as OAuth endpoints accept both. */
export function parseParams(req: IncomingMessage, raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (isJson(req)) {
    let parsed: unknown;
    try {
      parsed = raw.trim() === '' ? {} : JSON.parse(raw);
    } catch {
      throw oauthError(400, 'invalid_request', 'body is not valid JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw oauthError(400, 'invalid_request', 'body must be a JSON object');
    }
    for (const [key, value] of Object.entries(parsed)) {
      if (typeof value === 'string') out[key] = value;
      else if (typeof value === 'number' || typeof value === 'boolean') out[key] = String(value);
    }
    return out;
  }
  for (const [key, value] of new URLSearchParams(raw)) out[key] ??= value;
  return out;
}

/** Control API bodies: JSON only; an empty body is an empty object. */
export function parseJsonBody(raw: string): unknown {
  if (raw.trim() === '') return {};
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    throw new HttpError(400, {
      error: 'invalid_request',
      error_description: 'body is not valid JSON',
    });
  }
}

function decodeFormComponent(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return value;
  }
}

export interface TClientAuth {
  clientId: string | null;
  clientSecret: string | null;
  method: 'basic' | 'body' | 'none';
}

/** HTTP Basic wins over body credentials (RFC 6749 §2.3.1 encodes both parts form-style). */
export function readClientAuth(req: IncomingMessage, params: Record<string, string>): TClientAuth {
  const header = req.headers.authorization ?? '';
  const match = /^Basic\s+(.+)$/i.exec(header);
  if (match?.[1]) {
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    const sep = decoded.indexOf(':');
    if (sep >= 0) {
      return {
        clientId: decodeFormComponent(decoded.slice(0, sep)) || null,
        clientSecret: decodeFormComponent(decoded.slice(sep + 1)) || null,
        method: 'basic',
      };
    }
  }
  const clientId = params['client_id'] || null;
  return {
    clientId,
    clientSecret: params['client_secret'] || null,
    method: clientId ? 'body' : 'none',
  };
}

export function readBearer(req: IncomingMessage): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return match?.[1] ?? null;
}
