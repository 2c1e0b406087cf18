import type { IncomingMessage } from 'node:http';

export const BINDING_COOKIE = 'otesse_oauth_binding';

export function readCookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k !== name) continue;
    // A malformed escape is a cookie we never set: treat it as absent rather than fail the request.
    try {
      return decodeURIComponent(v.join('='));
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** HttpOnly + SameSite=Lax: sent on the provider's top-level redirect back, never readable by scripts. */
export function bindingCookie(value: string, opts: { secure: boolean; maxAgeSec: number }): string {
  return [
    `${BINDING_COOKIE}=${encodeURIComponent(value)}`,
    'Path=/connect',
    'HttpOnly',
    'SameSite=Lax',
    `Max-Age=${opts.maxAgeSec}`,
    ...(opts.secure ? ['Secure'] : []),
  ].join('; ');
}

export function appendSetCookie(
  res: { getHeader(n: string): unknown; setHeader(n: string, v: string[]): unknown },
  cookie: string,
): void {
  const existing = res.getHeader('set-cookie');
  const list = Array.isArray(existing) ? existing.map(String) : existing ? [String(existing)] : [];
  res.setHeader('set-cookie', [...list, cookie]);
}
