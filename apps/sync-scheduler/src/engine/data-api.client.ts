import { z } from 'zod';
import type { TSyncResource } from '@otesse/contracts';
import { ProviderHttpError, providerFetch, type TProviderResponse } from '@otesse/providers';

/**
 * A page may hold up to 1000 records (catalogue `dataApi.pageSize`), so more than the 5 MiB default of other
 * provider answers; still bounded, as a scheduler runs several executions with a prefetched page each.
 */
const MAX_PAGE_BYTES = 16 * 1024 * 1024;

/** A page of the provider's data API: `GET {baseUrl}/api/{resource}?cursor=&limit=` with a bearer token. */
const ZPage = z.object({
  items: z.array(z.unknown()),
  nextCursor: z.string().min(1).max(2000).nullable().optional(),
});

export interface TPage {
  items: Record<string, unknown>[];
  /** Items without a usable id (not written, still counted as fetched). */
  skipped: number;
  nextCursor: string | null;
  fetchMs: number;
}

/** A provider answer that ends the execution; `reason` goes on the execution, never the response body. */
export class DataApiError extends Error {
  constructor(
    readonly reason:
      'provider_unauthorized' | 'provider_error' | 'provider_unreachable' | 'provider_bad_page',
    message: string,
  ) {
    super(message);
    this.name = 'DataApiError';
  }
}

export async function fetchPage(opts: {
  baseUrl: string;
  resource: TSyncResource;
  accessToken: string;
  cursor: string | null;
  limit: number;
  signal: AbortSignal;
  timeoutMs: number;
}): Promise<TPage> {
  const url = new URL(`${opts.baseUrl.replace(/\/+$/, '')}/api/${opts.resource}`);
  url.searchParams.set('limit', String(opts.limit));
  if (opts.cursor) url.searchParams.set('cursor', opts.cursor);
  const started = performance.now();
  let res: TProviderResponse;
  try {
    // The base URL may be an admin-chosen subdomain: a redirect is refused, the page capped (providerFetch).
    res = await providerFetch(url, {
      headers: { authorization: `Bearer ${opts.accessToken}`, accept: 'application/json' },
      signal: AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs)]),
      maxBodyBytes: MAX_PAGE_BYTES,
    });
  } catch (e) {
    // Our own abort (cancel, stop) propagates as is; the caller knows why it aborted.
    if (opts.signal.aborted) throw e;
    if (e instanceof ProviderHttpError) {
      throw new DataApiError(
        'provider_error',
        `data API answered ${e.status}, a redirect, which is not followed`,
      );
    }
    const timedOut = (e as Error).name === 'TimeoutError';
    throw new DataApiError(
      'provider_unreachable',
      timedOut ? `data API did not answer within ${opts.timeoutMs} ms` : 'data API unreachable',
    );
  }
  if (res.status === 401) {
    await res.discard();
    throw new DataApiError('provider_unauthorized', 'data API answered 401 (token refused)');
  }
  if (!res.ok) {
    await res.discard();
    throw new DataApiError('provider_error', `data API answered ${res.status}`);
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch (e) {
    if (opts.signal.aborted) throw e;
    if (e instanceof ProviderHttpError) {
      throw new DataApiError(
        'provider_bad_page',
        `data API answered a page over ${MAX_PAGE_BYTES / 1024 / 1024} MiB`,
      );
    }
    throw new DataApiError('provider_bad_page', 'data API answered a page that is not JSON');
  }
  const page = ZPage.safeParse(body);
  if (!page.success) {
    throw new DataApiError('provider_bad_page', 'data API answered a page without items');
  }
  const items: Record<string, unknown>[] = [];
  let skipped = 0;
  for (const item of page.data.items) {
    const id = (item as { id?: unknown } | null)?.id;
    if (
      item !== null &&
      typeof item === 'object' &&
      (typeof id === 'string' || typeof id === 'number') &&
      String(id).length > 0 &&
      String(id).length <= 300
    ) {
      items.push(item as Record<string, unknown>);
    } else {
      skipped += 1;
    }
  }
  return {
    items,
    skipped,
    nextCursor: page.data.nextCursor ?? null,
    fetchMs: performance.now() - started,
  };
}
