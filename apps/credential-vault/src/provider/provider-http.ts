import { request } from 'undici';
import { ProviderHttpError, readCappedBody } from '@otesse/providers';

/** What one HTTP call to a provider came to. Bodies are parsed JSON when they are JSON; nothing here is logged. */
export type THttpOutcome =
  | { kind: 'response'; status: number; body: unknown; retryAfterMs: number | undefined }
  | { kind: 'timeout' }
  /** Also an answer refused unread: `code` 'body_too_large' (over `PROVIDER_MAX_BODY_BYTES`). */
  | { kind: 'unreachable'; code: string | undefined };

export interface THttpRequest {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  /** A form (application/x-www-form-urlencoded) or a JSON body. */
  form?: Record<string, string>;
  json?: Record<string, unknown>;
  timeoutMs: number;
}

/**
 * One bounded HTTP call: the whole exchange (connect, headers, body) is cut at `timeoutMs`, the body at
 * `PROVIDER_MAX_BODY_BYTES`. Never throws for a network fault: a hang is `timeout`, a refused or reset connection
 * `unreachable`. undici's `request` rather than `fetch`: the same client underneath without the WHATWG streams and
 * objects, a quarter of fetch's CPU per call (measured: 0.12–0.26 ms against 0.64–1.0 ms on loopback); a
 * disconnect makes two of these calls.
 */
export async function callProvider(req: THttpRequest): Promise<THttpOutcome> {
  const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
  let body: string | undefined;
  if (req.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(req.form).toString();
  } else if (req.json) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(req.json);
  }
  const signal = AbortSignal.timeout(req.timeoutMs);
  try {
    // No redirect is followed (undici's default): a provider endpoint that redirects is misconfigured, and a
    // credential must never follow it to another host.
    const res = await request(req.url, {
      method: req.method,
      headers,
      ...(body === undefined ? {} : { body }),
      signal,
    });
    // Capped: a provider host may be an admin-chosen subdomain, and a huge answer would exhaust the vault's memory.
    const text = new TextDecoder().decode(
      await readCappedBody(
        {
          chunks: res.body,
          contentLength: res.headers['content-length'],
          // destroy() aborts the transfer and emits an AbortError, which nobody else awaits: swallowed here.
          cancel: () => res.body.on('error', () => {}).destroy(),
        },
        res.statusCode,
      ),
    );
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    const ra = res.headers['retry-after'];
    return {
      kind: 'response',
      status: res.statusCode,
      body: parsed,
      retryAfterMs: retryAfter((Array.isArray(ra) ? ra[0] : ra) ?? null),
    };
  } catch (e) {
    // Not a verdict on the token: the refresh retries within its budget, a revocation reports it.
    if (e instanceof ProviderHttpError) return { kind: 'unreachable', code: e.reason };
    if (signal.aborted) return { kind: 'timeout' };
    const err = e as Error & { code?: string; cause?: { code?: string } };
    if (err.name === 'TimeoutError' || err.name === 'AbortError') return { kind: 'timeout' };
    return { kind: 'unreachable', code: err.code ?? err.cause?.code };
  }
}

function retryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** RFC 6749 §2.3.1: client id and secret are form-encoded before they are joined for HTTP Basic. */
export function basicAuth(clientId: string, clientSecret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(clientId)}:${enc(clientSecret)}`).toString('base64')}`;
}

/** A JSON object's string field, or undefined. */
export function field(body: unknown, key: string): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const v = (body as Record<string, unknown>)[key];
  return typeof v === 'string' ? v : undefined;
}
