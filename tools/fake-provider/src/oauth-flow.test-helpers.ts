// Shared by the *.test.ts files: small real-HTTP helpers around the fake provider.
import { createHash, randomBytes } from 'node:crypto';

export const REDIRECT_URI = 'http://127.0.0.1:9999/callback';
export const CLIENT_ID = 'client-1';
export const CLIENT_SECRET = 'secret-1';

export interface TTokenBody {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
  user_id: string;
  tenant_id: string;
  instance?: string;
}

export interface THttpResult<T = Record<string, unknown>> {
  status: number;
  body: T;
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export function basicAuth(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
}

/** Hits /oauth/authorize and returns the redirect target (or the direct error answer). */
export async function authorize(
  base: string,
  params: Record<string, string> = {},
): Promise<{ status: number; location: URL | null; body: string }> {
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    state: 'st-123',
    scope: 'read write',
    ...params,
  });
  const res = await fetch(`${base}/oauth/authorize?${query.toString()}`, { redirect: 'manual' });
  const location = res.headers.get('location');
  return {
    status: res.status,
    location: location ? new URL(location) : null,
    body: await res.text(),
  };
}

export async function postForm<T = Record<string, unknown>>(
  url: string,
  params: Record<string, string>,
  opts: { headers?: Record<string, string>; json?: boolean; timeoutMs?: number } = {},
): Promise<THttpResult<T>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': opts.json ? 'application/json' : 'application/x-www-form-urlencoded',
      ...opts.headers,
    },
    body: opts.json ? JSON.stringify(params) : new URLSearchParams(params).toString(),
    signal: AbortSignal.timeout(opts.timeoutMs ?? 5000),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
}

export async function getJson<T = Record<string, unknown>>(
  url: string,
  accessToken?: string,
): Promise<THttpResult<T>> {
  const res = await fetch(url, {
    headers: accessToken ? { authorization: `Bearer ${accessToken}` } : {},
    signal: AbortSignal.timeout(5000),
  });
  return { status: res.status, body: (await res.json()) as T };
}

/** Full authorization_code + PKCE dance; returns the token response. */
export async function obtainTokens(
  base: string,
  params: Record<string, string> = {},
): Promise<TTokenBody> {
  const { verifier, challenge } = pkcePair();
  const auth = await authorize(base, {
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...params,
  });
  const code = auth.location?.searchParams.get('code');
  if (!code)
    throw new Error(`authorize failed: ${auth.status} ${auth.location?.toString() ?? auth.body}`);
  const res = await postForm<TTokenBody>(`${base}/oauth/token`, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: REDIRECT_URI,
    code_verifier: verifier,
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
  });
  if (res.status !== 200)
    throw new Error(`token exchange failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

export function refresh(base: string, refreshToken: string): Promise<THttpResult> {
  return postForm(`${base}/oauth/token`, {
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
  });
}
