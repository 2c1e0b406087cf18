import { request as httpRequest } from 'node:http';

export interface TRawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One HTTP request on its own connection (no keep-alive pool, so a busy box never races an idle socket's
 * close), from a chosen loopback address (every 127.x.y.z reaches the edge on 127.0.0.1: one test can be
 * several clients), with any method and body (a GET with a body included).
 */
export function rawHttp(
  url: string,
  opts: {
    method?: string;
    headers?: Record<string, string>;
    body?: string | Uint8Array;
    from?: string;
    timeoutMs?: number;
  } = {},
): Promise<TRawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: opts.method ?? 'GET',
        headers: {
          ...opts.headers,
          ...(opts.body !== undefined
            ? { 'content-length': String(Buffer.byteLength(opts.body)) }
            : {}),
        },
        localAddress: opts.from ?? '127.0.0.1',
        agent: false,
        timeout: opts.timeoutMs ?? 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () =>
      req.destroy(new Error(`no answer within ${opts.timeoutMs ?? 30_000} ms`)),
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}
