import { request } from 'undici';

/**
 * The `fetch` the benchmarks' tRPC clients use: undici's `request` under the little of fetch's Response that tRPC's
 * links read (`json()`). The clients share the two cores with the stack, and WHATWG fetch costs them about twice
 * the CPU per call for the same bytes on the wire: the client's cost, not the API's. The skeleton's client is the same.
 */
export async function lightFetch(
  url: string | URL | Request,
  init?: {
    method?: string;
    headers?: unknown;
    body?: unknown;
    signal?: AbortSignal | null | undefined;
  },
): Promise<Response> {
  const res = await request(String(url), {
    method: (init?.method ?? 'GET') as 'GET',
    headers: (init?.headers ?? {}) as Record<string, string>,
    body: (init?.body as string | undefined) ?? null,
    signal: init?.signal ?? undefined,
  });
  const partial = {
    ok: res.statusCode >= 200 && res.statusCode < 300,
    status: res.statusCode,
    json: () => res.body.json(),
    text: () => res.body.text(),
  };
  return partial as unknown as Response;
}
